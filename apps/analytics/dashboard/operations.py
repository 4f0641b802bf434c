"""Inventory (and ops): low stock. Ops: the outbox's backlog, failures and webhook calls,
and reservation latency from its Prometheus histogram."""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import defaultdict
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext as _
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

from apps.analytics.dashboard.common import (
    DANGER,
    LIST_LIMIT,
    PRIMARY,
    SECONDARY,
    admin_link,
    chart_json,
    chart_options,
)
from apps.core import clock
from apps.core.formatting import format_datetime, format_number
from apps.core.models import OutboxEvent
from apps.integrations.models import DeliveryAttempt
from apps.integrations.selectors import outbox_stats
from apps.inventory.selectors import low_stock_levels
from apps.markets.models import Market


def low_stock_section(*, markets: list[Market], language: str, limit: int = LIST_LIMIT) -> dict[str, Any]:
    """Stock rows at or below their threshold in the user's markets: how many, and the
    ``limit`` lowest with available vs threshold as a bar chart. Two queries."""
    codes = [m.code for m in markets]
    qs = low_stock_levels().filter(warehouse__market_id__in=codes)
    total = qs.count()
    rows = [
        {
            "sku": level.sku.code,
            "warehouse": level.warehouse.code,
            "market": level.warehouse.market_id,
            "available": int(getattr(level, "available_units")),  # noqa: B009 - annotated by the selector
            "threshold": int(getattr(level, "threshold_units")),  # noqa: B009
        }
        for level in qs[:limit]
    ]

    chart = chart_json(
        [f"{row['sku']} · {row['warehouse']}" for row in rows],
        [
            {
                "label": _("Available"),
                "data": [row["available"] for row in rows],
                "backgroundColor": DANGER,
                "borderColor": DANGER,
            },
            {
                "label": _("Low-stock threshold"),
                "data": [row["threshold"] for row in rows],
                "backgroundColor": SECONDARY,
                "borderColor": SECONDARY,
            },
        ],
    )
    return {
        "total": total,
        "total_display": format_number(total, language),
        "rows": rows,
        "chart": chart,
        "chart_options": chart_options(),
        "link": admin_link("admin:inventory_stocklevel_changelist", query="?availability=low"),
    }


def outbox_section(*, language: str, now: dt.datetime | None = None, hours: int = 24) -> dict[str, Any]:
    """The outbox's backlog and failures (``outbox_stats``: four queries) and the relay's
    webhook calls per hour of the last ``hours``, acknowledged or not (one query)."""
    now = now or clock.now()
    stats = outbox_stats(now=now)
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=hours)
    per_hour: dict[dt.datetime, dict[str, int]] = defaultdict(lambda: {"ok": 0, "failed": 0})
    ok = Q(outcome=DeliveryAttempt.Outcome.OK)
    for row in (
        DeliveryAttempt.objects.filter(started_at__gte=start, started_at__lt=end)
        .annotate(hour=TruncHour("started_at", tzinfo=dt.UTC))
        .order_by()
        .values("hour")
        .annotate(ok=Count("pk", filter=ok), failed=Count("pk", filter=~ok))
    ):
        hour = row["hour"].astimezone(dt.UTC)
        per_hour[hour]["ok"] += row["ok"]
        per_hour[hour]["failed"] += row["failed"]
    hours_list = [start + dt.timedelta(hours=i) for i in range(hours)]
    zone = timezone.get_current_timezone()
    chart = chart_json(
        [hour.astimezone(zone).strftime("%H:00") for hour in hours_list],
        [
            {
                "label": _("Acknowledged"),
                "data": [per_hour[hour]["ok"] for hour in hours_list],
                "backgroundColor": PRIMARY,
                "borderColor": PRIMARY,
            },
            {
                "label": _("Not acknowledged"),
                "data": [per_hour[hour]["failed"] for hour in hours_list],
                "backgroundColor": DANGER,
                "borderColor": DANGER,
            },
        ],
    )
    backlog = stats["pending"] + stats["delivering"]
    return {
        "backlog": backlog,
        "pending": stats["pending"],
        "delivering": stats["delivering"],
        "failed": stats["failed"],
        "delivered": stats["delivered"],
        "oldest_pending_age_seconds": stats["oldest_pending_age_seconds"],
        "oldest_pending_display": _age(stats["oldest_pending_age_seconds"]),
        "last_success_display": (
            format_datetime(stats["last_success_at"], language, tz=str(zone), fmt="short", zone=True)
            if stats["last_success_at"]
            else "–"
        ),
        "deliveries_last_5m": stats["deliveries_last_5m"],
        "chart": chart,
        "chart_options": chart_options(stacked=True),
        "link": admin_link("admin:core_outboxevent_changelist"),
        "failed_link": admin_link(
            "admin:core_outboxevent_changelist", query=f"?status={OutboxEvent.Status.FAILED}"
        ),
    }


def _age(seconds: int) -> str:
    if seconds < 60:
        return _("%(n)s s") % {"n": seconds}
    if seconds < 3600:
        return _("%(n)s min") % {"n": seconds // 60}
    return _("%(h)s h %(m)s min") % {"h": seconds // 3600, "m": seconds % 3600 // 60}


# --- Reservation latency (ops) ------------------------------------------------------
#: The Prometheus histogram ``apps.inventory.metrics`` observes each reservation step into.
RESERVATION_SERIES = "joopang_inventory_reservation_seconds"
RESERVATION_OPERATIONS: tuple[str, ...] = ("hold", "commit")


def metrics_registry() -> Any:
    """What ``/metrics`` exports: every process's series when ``PROMETHEUS_MULTIPROC_DIR``
    is set (gunicorn workers, as django-prometheus reads them), else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def histogram_buckets(registry: Any, name: str, *, by: str) -> dict[str, list[tuple[float, float]]]:
    """``{label value of by: [(le, cumulative count), ...]}`` summed over the other labels
    (``sum by (le, <by>)``), bounds ascending, ``+Inf`` last."""
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for metric in registry.collect():
        if metric.name != name:
            continue
        for sample in metric.samples:
            if sample.name == f"{name}_bucket":
                sums[sample.labels.get(by, "")][float(sample.labels["le"])] += sample.value
    return {key: sorted(bounds.items()) for key, bounds in sums.items()}


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile`` over cumulative ``(le, count)`` buckets: linear
    inside the bucket holding the rank; the highest finite bound when it falls in +Inf."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            return bound if inside <= 0 else lower + (bound - lower) * (rank - below) / inside
        lower, below = bound, cumulative
    return lower


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return _("%(n)s ms") % {"n": f"{seconds * 1000:.1f}"}
    return _("%(n)s s") % {"n": f"{seconds:.2f}"}


def reservation_latency_section(*, language: str) -> dict[str, Any]:
    """P50/P95 of reservation holds and commits and their distribution, from the
    Prometheus histogram (no query): counted since the processes started, where
    Prometheus and the alert rule read it per five minutes."""
    buckets = histogram_buckets(metrics_registry(), RESERVATION_SERIES, by="operation")
    labels = {"hold": _("Hold"), "commit": _("Commit")}
    operations = []
    for operation in RESERVATION_OPERATIONS:
        series = buckets.get(operation, [])
        p50, p95 = histogram_quantile(0.5, series), histogram_quantile(0.95, series)
        operations.append(
            {
                "operation": operation,
                "label": labels[operation],
                "count": int(series[-1][1]) if series else 0,
                "count_display": format_number(int(series[-1][1]) if series else 0, language),
                "p50": p50,
                "p95": p95,
                "p50_display": _duration(p50),
                "p95_display": _duration(p95),
            }
        )
    bounds = sorted({bound for series in buckets.values() for bound, _n in series})
    chart_labels = [
        (_("over %(bound)s") % {"bound": _duration(bounds[-2])} if len(bounds) > 1 else "+Inf")
        if math.isinf(bound)
        else "≤ " + _duration(bound)
        for bound in bounds
    ]
    colours = (PRIMARY, SECONDARY)
    datasets = []
    for index, operation in enumerate(RESERVATION_OPERATIONS):
        cumulative = dict(buckets.get(operation, []))
        counts, previous = [], 0.0
        for bound in bounds:
            value = cumulative.get(bound, previous)
            counts.append(int(value - previous))
            previous = value
        datasets.append(
            {
                "label": labels[operation],
                "data": counts,
                "backgroundColor": colours[index],
                "borderColor": colours[index],
            }
        )
    return {
        "operations": operations,
        "observed": any(op["count"] for op in operations),
        "chart": chart_json(chart_labels, datasets),
        "chart_options": chart_options(),
    }
