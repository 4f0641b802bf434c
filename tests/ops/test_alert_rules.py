"""The alert rules (issue 23 "Show": the alert-rules test).

``docker/prometheus/alerts.yml`` must parse, and every metric a rule names must be one the
application exports, with the labels it matches on: a rule on a renamed or misspelt series
would never fire, and nobody would notice. Each expression is read at parser level (balanced
brackets; metric names and label matchers extracted) and its names checked against
prometheus_client's registry once the application's metric modules (and django-prometheus's)
are loaded. When promtool is on PATH (Debian: ``apt-get install prometheus``) it also checks
the rules and the config, and runs ``docker/prometheus/alerts_test.yml``: synthetic series
in, the alerts that fire out. Every alert has its section in the runbook, and compose runs
Prometheus with these files.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docker" / "prometheus" / "alerts.yml"
CONFIG = ROOT / "docker" / "prometheus" / "prometheus.yml"
COMPOSE = ROOT / "docker" / "compose.yaml"
RUNBOOK = ROOT / "docs" / "operations.md"

#: Every module that defines the application's series.
METRIC_MODULES = (
    "apps.inventory.metrics",
    "apps.coupons.metrics",
    "apps.payments.metrics",
    "apps.payments.providers.metrics",
    "apps.integrations.metrics",
    "apps.orders.metrics",
    "django_prometheus.models",
    "django_prometheus.db.metrics",
    "django_prometheus.cache.metrics",
)

#: Metric types whose bare name is never a series of their own.
BARE_NAME_HIDDEN = frozenset({"counter", "histogram", "summary"})

#: PromQL words that are not metric names: aggregations, functions, operators, modifiers.
PROMQL_WORDS = frozenset(
    {
        *("sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile"),
        *("count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right"),
        *("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "le"),
    }
)


def _rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def _alert_ids() -> list[str]:
    return [rule["alert"] for rule in _rules()]


# --- reading an expression -----------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^{}]*)\}")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*')
_IDENT = re.compile(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![A-Za-z0-9_:])")


def brackets_balanced(expr: str) -> bool:
    """Parentheses, braces and square brackets nest properly (outside string literals)."""
    pairs = {")": "(", "}": "{", "]": "["}
    stack: list[str] = []
    for char in _STRING.sub('""', expr):
        if char in "({[":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """Every metric the expression selects, with its label matchers
    (``{label: (operator, value)}``). A ``{...}`` without a name ahead is ``{__name__=...}``."""
    found: list[tuple[str, dict[str, tuple[str, str]]]] = []
    # Label matchers are read first (their values are strings), then taken out.
    text = _GROUPING.sub(" ", expr)

    def take(match: re.Match[str]) -> str:
        matchers: dict[str, tuple[str, str]] = {}
        body = match.group(2).strip().rstrip(",")
        for part in filter(None, (p.strip() for p in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", body))):
            parsed = _MATCHER.fullmatch(part)
            if parsed is None:
                raise AssertionError(f"unreadable label matcher {part!r} in {expr!r}")
            matchers[parsed.group(1)] = (parsed.group(2), parsed.group(3)[1:-1])
        name = match.group(1) or matchers.pop("__name__", ("=", ""))[1]
        found.append((name, matchers))
        return " "

    text = _SELECTOR.sub(take, text)
    text = _STRING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    for match in _IDENT.finditer(text):
        word = match.group(1)
        following = text[match.end() :].lstrip()
        if word.lower() in PROMQL_WORDS or following.startswith("("):
            continue  # an operator, an aggregation or a function
        found.append((word, {}))
    return found


def test_the_reader_finds_names_labels_and_skips_functions():
    expr = (
        'histogram_quantile(0.95, sum by (le, view) (rate(a_seconds_bucket{view=~"x|y", method="POST"}[5m])))'
        " > 0.4 and on (market) b_total offset 5m / max without (kind) (c)"
    )
    assert brackets_balanced(expr)
    assert not brackets_balanced("sum(rate(x[5m])")
    assert not brackets_balanced("sum(rate(x[5m)))")
    assert selectors(expr) == [
        ("a_seconds_bucket", {"view": ("=~", "x|y"), "method": ("=", "POST")}),
        ("b_total", {}),
        ("c", {}),
    ]


# --- what the application exports ------------------------------------------------------------


def exported() -> dict[str, set[str]]:
    """Each series name the application exports -> its label names (a histogram's ``le``
    included), read from prometheus_client's registry once every metric module is loaded."""
    from joopang.middleware import PrometheusAfterMiddleware

    for module in METRIC_MODULES:
        importlib.import_module(module)
    PrometheusAfterMiddleware.metrics_cls.get_instance()  # the request series
    series: dict[str, set[str]] = {}
    # Every name a collector exposes, suffixes included (``_total``, ``_bucket``, ``_count``,
    # ``_sum``, ``_created``). No public accessor lists them without samples.
    # A counter or histogram is registered under its bare name too, but no series has that
    # name (``x`` is exposed as ``x_total``; a histogram as ``x_bucket``, ``x_count``...).
    for name, collector in list(REGISTRY._names_to_collectors.items()):
        if name == getattr(collector, "_name", None) and getattr(collector, "_type", "") in BARE_NAME_HIDDEN:
            continue
        labels = set(getattr(collector, "_labelnames", ()))
        series[name] = labels | ({"le"} if name.endswith("_bucket") else set())
    return series


def test_the_application_exports_the_issue_series():
    names = exported()
    for name in (
        "joopang_inventory_reservation_seconds_bucket",
        "joopang_order_payments_total",
        "joopang_orders_created_total",
        "joopang_orders_paid_total",
        "joopang_coupon_claims_total",
        "joopang_outbox_oldest_pending_age_seconds",
        "django_http_responses_total_by_status_view_method_total",
        "django_http_requests_latency_seconds_by_view_method_bucket",
    ):
        assert name in names, name
    assert names["joopang_order_payments_total"] == {"method", "outcome"}
    assert "le" in names["joopang_inventory_reservation_seconds_bucket"]


# --- the rules -------------------------------------------------------------------------------


def test_the_rules_file_is_valid_yaml_with_named_alerts():
    rules = _rules()
    ids = [rule["alert"] for rule in rules]
    assert len(ids) == len(set(ids)) and len(ids) >= 15
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule[
            "alert"
        ]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"
        if "for" in rule:
            assert re.fullmatch(r"([0-9]+[smhd])+", rule["for"]), rule["alert"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules():
    result = subprocess.run(
        [shutil.which("promtool") or "promtool", "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_unit_tests_fire_the_alerts_when_they_should():
    # docker/prometheus/alerts_test.yml: synthetic series in, the ALERTS series out
    result = subprocess.run(
        [shutil.which("promtool") or "promtool", "test", "rules", "alerts_test.yml"],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_prometheus_config(tmp_path):
    # the config names the rules by their path in the container: point it at the file here
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["rule_files"] = [str(RULES)]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = subprocess.run(
        [shutil.which("promtool") or "promtool", "check", "config", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", _alert_ids())
def test_each_rule_parses_and_names_only_exported_series(alert):
    rule = next(rule for rule in _rules() if rule["alert"] == alert)
    expr = rule["expr"]
    assert brackets_balanced(expr), expr
    series = exported()
    found = selectors(expr)
    assert found, f"{alert} names no metric"
    for name, matchers in found:
        assert name in series, f"{alert}: {name} is not a series the application exports"
        unknown = set(matchers) - series[name]
        assert not unknown, f"{alert}: {name} has no label {sorted(unknown)}"


def test_a_rule_on_a_series_nobody_exports_is_caught():
    # The check above has teeth: a misspelt series or label is reported.
    series = exported()
    found = selectors('sum(rate(joopang_order_payment_total{outcome="paid"}[5m])) > 0')
    assert [name for name, _ in found if name not in series] == ["joopang_order_payment_total"]
    ((name, matchers),) = selectors('joopang_orders_paid_total{currency="KRW"}')
    assert set(matchers) - series[name] == {"currency"}
    # a counter's bare name is not a series (prometheus_client exposes it as <name>_total)
    assert "django_http_responses_total_by_status_view_method" not in series
    assert "joopang_orders_paid" not in series and "joopang_inventory_reservation_seconds" not in series
    assert "joopang_outbox_oldest_pending_age_seconds" in series  # a gauge's name is its series


def _view_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(prefix + pattern.name)

    walk(get_resolver().url_patterns, "")
    return names


def test_the_latency_rule_names_routes_that_exist():
    # The checkout and claim routes the P95 rule watches are URL names of this project
    # (django-prometheus labels a request with its view name): a renamed route breaks this.
    rule = next(rule for rule in _rules() if rule["alert"] == "CheckoutLatencyP95High")
    ((_, matchers),) = selectors(rule["expr"])
    views = matchers["view"][1].split("|")
    assert {"api:orders", "api:order-payments", "api:coupon-campaign-claim"} <= set(views)
    assert set(views) <= _view_names()
    assert "0.4" in rule["expr"]


def test_every_alert_has_its_runbook_section():
    text = RUNBOOK.read_text(encoding="utf-8")
    headings = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    assert set(_alert_ids()) <= headings


def test_compose_runs_prometheus_with_the_rules_and_scrapes_web_and_worker():
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    prometheus = compose["services"]["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    mounts = {
        volume.split(":")[1]: volume.split(":")[0] for volume in prometheus["volumes"] if ":/etc/" in volume
    }
    assert mounts == {
        "/etc/prometheus/prometheus.yml": "./prometheus/prometheus.yml",
        "/etc/prometheus/alerts.yml": "./prometheus/alerts.yml",
    }
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["web"]["static_configs"][0]["targets"] == ["web:8000"]
    worker_port = compose["services"]["worker"]["environment"]["CELERY_METRICS_PORT"]
    assert jobs["worker"]["dns_sd_configs"][0]["port"] == int(worker_port)
    # /metrics lets in exactly the Prometheus address
    address = prometheus["networks"]["metrics"]["ipv4_address"]
    assert address.endswith(":-172.30.99.10}")
    assert (
        "${PROMETHEUS_ADDRESS:-172.30.99.10}/32"
        in compose["services"]["web"]["environment"]["METRICS_ALLOWED_NETWORKS"]
    )
