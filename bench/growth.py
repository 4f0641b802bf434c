"""Growth: do requests get dearer as the data grows? (issue 25, item 4)

``python -m bench.growth`` runs ``bench.run`` twice with the same scenarios, on a small
catalog (``GROWTH_SMALL_PRODUCTS``, 10,000) and on a large one (``GROWTH_LARGE_PRODUCTS``,
200,000 products, plus ``GROWTH_MOVEMENTS`` (1,000,000) stock movements and
``GROWTH_OUTBOX`` (1,000,000) outbox events), and writes ``bench/results/growth-latest.md``
(and ``.json``): per scenario the CPU per request (gunicorn + PostgreSQL) of both runs, its
growth (at most ``GROWTH_LIMIT_PCT``, 20 %), the growth against each run's baseline and the
host's drift (:func:`host_drift`), req/s and P95 of both, and each run's machine load.
Scenarios: ``BENCH_SCENARIOS`` (default :data:`SCENARIOS`: the reads, the storefront's pages,
the writes, and the baseline again at the end); every other ``BENCH_*`` knob passes through to
both runs. Each run writes its reports as ``growth-small.*`` and ``growth-large.*``
(``BENCH_REPORT``), so the full benchmark's ``latest.md`` stays as it was.

``fill(movements=, outbox=)`` is the large run's extra history, called by ``bench.run``
right after the seed when ``BENCH_FILL_MOVEMENTS`` / ``BENCH_FILL_OUTBOX`` are set: a
few ``INSERT … SELECT generate_series`` statements, so a million rows take seconds, not
an ORM loop.

* Stock movements: receipts, returns and transfers in, each followed an hour later by the
  matching transfer out, damage write-off or count correction, over the last 90 days,
  skewed towards the first SKUs (a few move a lot, most rarely). Each pair nets to
  zero, so every level's ledger (first ``on_hand_before`` + every delta) still equals its
  ``on_hand``: ``manage.py check_invariants`` and the checkout check stay clean. No
  ``commit`` (sale) movements: they must each have an ``inventory.committed`` event,
  and the checkout check counts the units they sold. The opening counts keep the lowest
  ids (the ledger starts there) though the fill dates its rows earlier.
* Outbox events: orders created and paid, stock reserved, released, committed and
  adjusted, coupons issued and wallets credited, spread over the retention window
  (``DATA_PLATFORM_RETENTION_DAYS``), numbered from the real sequence. All delivered,
  except one in a thousand that ``failed`` (dead letters): what a relay that keeps up
  leaves behind. None pending, so the benchmark's Celery worker has nothing extra to ship.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
#: Read and write scenarios whose cost could depend on the size of the tables.
SCENARIOS = [
    "baseline",
    "product_list",
    "product_detail",
    "search",
    "availability",
    "html_home",
    "html_category",
    "html_product",
    "html_search",
    "reserve_release",
    "add_to_cart",
    "cart_totals",
    "checkout",
    "baseline_again",
]


def log(message: str) -> None:
    print(f"[growth {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- The fill ------------------------------------------------------------------------------


def fill(*, movements: int = 0, outbox: int = 0) -> dict[str, Any]:
    """Add ``movements`` stock movements (rounded down to pairs) and ``outbox`` events to
    the seeded database (PostgreSQL; Django set up). Returns counts and seconds."""
    from django.db import connection, transaction

    facts: dict[str, Any] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.25)")  # the same history every run
        if movements >= 2:
            started = time.monotonic()
            facts["movements"] = _fill_movements(cursor, movements // 2)
            facts["movements_seconds"] = round(time.monotonic() - started, 1)
        if outbox > 0:
            started = time.monotonic()
            facts["outbox_events"] = _fill_outbox(cursor, outbox)
            facts["outbox_seconds"] = round(time.monotonic() - started, 1)
    with connection.cursor() as cursor:
        for table in ("inventory_stockmovement", "core_outboxevent"):
            cursor.execute(f"ANALYZE {table}")
    return facts


def _fill_movements(cursor: Any, pairs: int) -> int:
    from apps.inventory.models import StockLevel, StockMovement

    level, movement = StockLevel._meta.db_table, StockMovement._meta.db_table
    cursor.execute(
        f"""
        WITH levels AS (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM {level}),
        pairs AS (
            SELECT ids[1 + floor(n * power(random(), 2))::int] AS level_id,
                   1 + floor(random() * 40)::int AS quantity,
                   floor(random() * 10)::int AS kind,
                   now() - interval '1 hour' - random() * interval '90 days' AS at,
                   g
            FROM levels, generate_series(1, %(pairs)s) AS g
        )
        INSERT INTO {movement} (stock_level_id, sku_id, warehouse_id, delta, kind, on_hand_before,
                                on_hand_after, reason, reference, created_at)
        SELECT l.id, l.sku_id, l.warehouse_id, s.sign * p.quantity,
               CASE WHEN s.sign > 0 THEN (CASE WHEN p.kind < 7 THEN 'receipt'
                                               WHEN p.kind < 9 THEN 'return' ELSE 'transfer_in' END)
                    ELSE (CASE WHEN p.kind < 6 THEN 'transfer_out'
                               WHEN p.kind < 8 THEN 'damage' ELSE 'correction' END) END,
               CASE WHEN s.sign > 0 THEN l.on_hand ELSE l.on_hand + p.quantity END,
               CASE WHEN s.sign > 0 THEN l.on_hand + p.quantity ELSE l.on_hand END,
               CASE WHEN s.sign > 0 THEN (CASE WHEN p.kind < 7 THEN 'Supplier delivery'
                                               WHEN p.kind < 9 THEN 'Customer return'
                                               ELSE 'Rebalancing between warehouses' END)
                    ELSE (CASE WHEN p.kind < 6 THEN 'Rebalancing between warehouses'
                               WHEN p.kind < 8 THEN 'Damaged in handling' ELSE 'Cycle count' END) END,
               CASE WHEN p.kind < 7 AND s.sign > 0 THEN 'PO-' || lpad(p.g::text, 8, '0') ELSE '' END,
               p.at + (s.sign < 0)::int * interval '1 hour'
        FROM pairs p
        JOIN {level} l ON l.id = p.level_id
        CROSS JOIN (VALUES (1), (-1)) AS s(sign)
        ORDER BY p.at, s.sign DESC
        """,
        {"pairs": pairs},
    )
    return int(cursor.rowcount)


def _fill_outbox(cursor: Any, events: int) -> int:
    from django.conf import settings

    from apps.core.models import OutboxEvent
    from apps.core.outbox import SEQUENCE_NAME

    table = OutboxEvent._meta.db_table
    days = int(settings.DATA_PLATFORM_RETENTION_DAYS)
    # One "story" per generated row number: an order (created, reserved, paid, committed:
    # four events on three aggregates), an adjustment of a stock level, a coupon issued,
    # a wallet credited, a released cart reservation. Stories of one order share its uuid.
    cursor.execute(
        f"""
        WITH stories AS (
            SELECT g, md5(g::text || ':growth')::uuid AS ref, floor(random() * 8)::int AS kind,
                   CASE WHEN random() < 0.8 THEN 'KR' ELSE 'US' END AS market,
                   now() - interval '1 minute' - random() * (%(days)s * interval '1 day') AS at,
                   1 + floor(random() * 200000)::int AS n
            FROM generate_series(1, %(stories)s) AS g
        ),
        events AS (
            SELECT s.*, e.step, e.type, e.aggregate_type,
                   CASE e.aggregate_type WHEN 'order' THEN s.ref::text
                        WHEN 'stock_owner' THEN (CASE WHEN s.kind = 2 THEN 'cart:' ELSE 'order:' END) || s.ref::text
                        WHEN 'stock_level' THEN 'growth-' || s.n
                        WHEN 'coupon_campaign' THEN 'growth-' || (s.n %% 50)
                        ELSE 'growth-' || s.n END AS aggregate_id
            FROM stories s
            JOIN (VALUES
                (0, 0, 'order.created', 'order'), (0, 1, 'inventory.reserved', 'stock_owner'),
                (0, 2, 'order.paid', 'order'), (0, 3, 'inventory.committed', 'stock_owner'),
                (1, 0, 'order.created', 'order'), (1, 1, 'inventory.reserved', 'stock_owner'),
                (1, 2, 'order.paid', 'order'), (1, 3, 'inventory.committed', 'stock_owner'),
                (2, 0, 'inventory.reserved', 'stock_owner'), (2, 1, 'inventory.released', 'stock_owner'),
                (3, 0, 'inventory.adjusted', 'stock_level'),
                (4, 0, 'coupon.issued', 'coupon_campaign'),
                (5, 0, 'wallet.credited', 'wallet'),
                (6, 0, 'order.created', 'order'), (6, 1, 'inventory.reserved', 'stock_owner'),
                (7, 0, 'inventory.adjusted', 'stock_level')
            ) AS e(kind, step, type, aggregate_type) ON e.kind = s.kind
        )
        INSERT INTO {table} (id, sequence, type, version, market, aggregate_type, aggregate_id,
                             aggregate_sequence, payload, occurred_at, status, attempts, claimed_by,
                             delivered_at, last_error)
        SELECT gen_random_uuid(), nextval(%(sequence)s), type, 1, market, aggregate_type, aggregate_id,
               row_number() OVER (PARTITION BY aggregate_type, aggregate_id ORDER BY at, step),
               jsonb_build_object(
                   'id', aggregate_id, 'market', market, 'sku', 'BK-' || lpad((n %% 200000 + 1)::text, 6, '0') || '-1',
                   'quantity', 1 + n %% 3, 'amount', 1000 * (1 + n %% 97),
                   'currency', CASE market WHEN 'KR' THEN 'KRW' ELSE 'USD' END),
               at + step * interval '2 seconds',
               CASE WHEN g %% 1000 = 0 THEN 'failed' ELSE 'delivered' END,
               CASE WHEN g %% 1000 = 0 THEN 10 ELSE 1 END,
               '',
               CASE WHEN g %% 1000 = 0 THEN NULL ELSE at + step * interval '2 seconds' + interval '1 second' END,
               CASE WHEN g %% 1000 = 0 THEN 'HTTP 503 from the data platform' ELSE '' END
        FROM events
        ORDER BY at, step
        LIMIT %(events)s
        """,
        {"days": days, "stories": events // 2 + 1, "events": events, "sequence": SEQUENCE_NAME},
    )
    return int(cursor.rowcount)


# --- The two runs --------------------------------------------------------------------------


def _run(label: str, env: dict[str, str]) -> dict[str, Any]:
    log(f"{label} run: {env.get('BENCH_PRODUCTS')} products, fill movements "
        f"{env.get('BENCH_FILL_MOVEMENTS', '0')}, outbox {env.get('BENCH_FILL_OUTBOX', '0')}")  # fmt: skip
    latest = RESULTS_DIR / f"growth-{label}.json"
    latest.unlink(missing_ok=True)  # a report left by an earlier run is not this one's
    code = subprocess.call(
        [sys.executable, "-m", "bench.run"], cwd=BASE_DIR, env={**env, "BENCH_REPORT": f"growth-{label}"}
    )
    if not latest.exists():
        raise SystemExit(f"the {label} run wrote no {latest} (exit {code})")
    report = json.loads(latest.read_text())
    report["exit_code"] = code
    return report


def _cpu(row: dict[str, Any]) -> float | None:
    """CPU milliseconds per request of gunicorn + PostgreSQL in one scenario row (a flow's
    first row carries the CPU of all its requests)."""
    per_request = (row.get("extra") or {}).get("cpu_ms_per_request") or {}
    if "gunicorn" not in per_request or "postgres" not in per_request:
        return None
    return round(float(per_request["gunicorn"]) + float(per_request["postgres"]), 3)


def _machine(row: dict[str, Any]) -> str:
    """Other processes' share of the machine during the scenario (and the load average)."""
    extra = row.get("extra") or {}
    share, load = extra.get("other_machine_share"), extra.get("loadavg_1m")
    text = "–" if share is None else f"{100 * share:.0f} %"
    return text if load is None else f"{text} (load {load:.1f})"


def _scenario_cpu(report: dict[str, Any], name: str) -> float | None:
    return next((_cpu(row) for row in report.get("scenarios", []) if row["name"] == name), None)


def _change(before: float | None, after: float | None) -> float | None:
    return None if not before or after is None else round((after / before - 1) * 100, 1)


def host_drift(small: dict[str, Any], large: dict[str, Any]) -> dict[str, float | None]:
    """How far the host's speed moved, read from the baseline (a primary-key read, whose cost
    does not depend on the size of the tables): between the two runs (each run's first
    ``baseline``) and within each run (its ``baseline_again``, the last scenario, against
    its first)."""
    return {
        "between_runs_pct": _change(_scenario_cpu(small, "baseline"), _scenario_cpu(large, "baseline")),
        "within_small_pct": _change(_scenario_cpu(small, "baseline"), _scenario_cpu(small, "baseline_again")),
        "within_large_pct": _change(_scenario_cpu(large, "baseline"), _scenario_cpu(large, "baseline_again")),
    }


def compare(small: dict[str, Any], large: dict[str, Any], limit_pct: float) -> dict[str, Any]:
    """Scenario by scenario: CPU per request, growth, req/s and P95 of both runs.

    The verdict is the issue's: the raw growth of the CPU per request, at most ``limit_pct``.
    Beside it, the growth against each run's first baseline (the scenario's CPU in baseline
    requests of its own run), and the host's drift (:func:`host_drift`). On this shared
    machine the host's speed moves by as much as the limit within minutes (session 8: the
    same baseline 41 % dearer at the end of a run than at its start), and no single
    baseline corrects for that reliably (the drift is not steady), so the result says
    ``steady: False`` when any drift exceeds half the limit: the verdict is then only
    indicative, and the runs should be repeated.
    """
    by_name = {row["name"]: row for row in large.get("scenarios", [])}
    small_base, large_base = _scenario_cpu(small, "baseline"), _scenario_cpu(large, "baseline")
    rows = []
    for row in small.get("scenarios", []):
        other = by_name.get(row["name"])
        if other is None:
            continue
        a, b = _cpu(row), _cpu(other)
        growth = _change(a, b)
        if a is None and b is None:
            continue  # a flow's later rows: the CPU went with its first row
        relative = None
        if a and b is not None and small_base and large_base:
            relative = round(((b / large_base) / (a / small_base) - 1) * 100, 1)
        rows.append(
            {
                "name": row["name"],
                "cpu_ms_small": a,
                "cpu_ms_large": b,
                "growth_pct": growth,
                "growth_vs_baseline_pct": relative,
                "passed": growth is not None and growth <= limit_pct,
                "rps_small": row.get("rps"),
                "rps_large": other.get("rps"),
                "p95_ms_small": row.get("p95_ms"),
                "p95_ms_large": other.get("p95_ms"),
                "other_load_small": _machine(row),
                "other_load_large": _machine(other),
            }
        )
    drift = host_drift(small, large)
    known = [abs(v) for v in drift.values() if v is not None]
    return {
        "limit_pct": limit_pct,
        "host_drift": drift,
        "steady": bool(known) and max(known) <= limit_pct / 2,
        "rows": rows,
        "passed": bool(rows) and all(r["passed"] for r in rows),
    }


def _fmt(value: Any, digits: int = 2) -> str:
    return "–" if value is None or value != value else f"{value:,.{digits}f}"  # None or NaN


def _run_facts(label: str, report: dict[str, Any]) -> str:
    meta = report.get("meta", {})
    dataset = meta.get("dataset", {})
    load = meta.get("loadavg_start", "?")
    fill_facts = dataset.get("fill") or {}
    fill_text = (
        f"; fill: {fill_facts.get('movements', 0):,} movements ({fill_facts.get('movements_seconds', '?')} s), "
        f"{fill_facts.get('outbox_events', 0):,} outbox events ({fill_facts.get('outbox_seconds', '?')} s)"
        if fill_facts
        else ""
    )
    return (
        f"- **{label}**: {dataset.get('requested_products', '?'):,} products requested, dataset {json.dumps({k: v for k, v in dataset.items() if k not in ('fill',)}, ensure_ascii=False)}; "
        f"seeded in {dataset.get('seed_seconds', '?')} s{fill_text}; {meta.get('started_at', '?')}, "
        f"load average at start {load}; {meta.get('warmup_s', '?')} s warm-up + {meta.get('duration_s', '?')} s per scenario, "
        f"commit {meta.get('git_commit', '?')}; exit {report.get('exit_code')}"
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f} %"


def render(result: dict[str, Any], small: dict[str, Any], large: dict[str, Any]) -> str:
    drift = result.get("host_drift") or {}
    moved = (
        f"The host's drift, from the baseline (a primary-key read, whose cost does not grow with "
        f"the tables): {_pct(drift.get('between_runs_pct'))} between the runs' first baselines, "
        f"{_pct(drift.get('within_small_pct'))} within the small run and "
        f"{_pct(drift.get('within_large_pct'))} within the large one (its last baseline against its first)"
    )
    trust = (
        "steady enough to read the growth as the data's."
        if result.get("steady")
        else f"more than {result['limit_pct'] / 2:g} % somewhere: the verdict is only indicative; repeat the runs."
    )
    lines = [
        "# Growth: 10,000 vs 200,000 products",
        "",
        f"CPU per request = gunicorn + PostgreSQL CPU time / requests (ms). Target: the large "
        f"dataset costs at most {result['limit_pct']:g} % more per request than the small one "
        f"(the growth column). Overall: **{'pass' if result['passed'] else 'FAIL'}**.",
        "",
        f'{moved}: {trust} "Growth vs baseline" divides each scenario by its run\'s first baseline.',
        "",
        "| scenario | CPU ms/req small | CPU ms/req large | growth | growth vs baseline | ≤ "
        f"{result['limit_pct']:g} % | req/s small | req/s large | P95 ms small | P95 ms large "
        "| other load small | other load large |",
        "|---|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['name']} | {_fmt(row['cpu_ms_small'])} | {_fmt(row['cpu_ms_large'])} | "
            f"{_pct(row['growth_pct'])} | {_pct(row.get('growth_vs_baseline_pct'))} | "
            f"{'pass' if row['passed'] else 'FAIL'} | {_fmt(row['rps_small'], 0)} | {_fmt(row['rps_large'], 0)} | "
            f"{_fmt(row['p95_ms_small'], 1)} | {_fmt(row['p95_ms_large'], 1)} | {row['other_load_small']} | "
            f"{row['other_load_large']} |"
        )
    lines += ["", "## Runs", "", _run_facts("small", small), _run_facts("large", large), ""]
    lines.append(
        "Full tables of each run: `growth-small.md`, `growth-large.md`. Produced by `python -m bench.growth`."
    )
    return "\n".join(lines) + "\n"


def main() -> int:
    env_get = os.environ.get
    small_n = int(env_get("GROWTH_SMALL_PRODUCTS", "10000"))
    large_n = int(env_get("GROWTH_LARGE_PRODUCTS", "200000"))
    movements = int(env_get("GROWTH_MOVEMENTS", "1000000"))
    outbox = int(env_get("GROWTH_OUTBOX", "1000000"))
    limit = float(env_get("GROWTH_LIMIT_PCT", "20"))
    base = {k: v for k, v in os.environ.items() if k not in ("BENCH_FILL_MOVEMENTS", "BENCH_FILL_OUTBOX")}
    base.setdefault("BENCH_SCENARIOS", ",".join(SCENARIOS))
    small = _run("small", {**base, "BENCH_PRODUCTS": str(small_n)})
    large = _run(
        "large",
        {**base, "BENCH_PRODUCTS": str(large_n), "BENCH_FILL_MOVEMENTS": str(movements),
         "BENCH_FILL_OUTBOX": str(outbox)},
    )  # fmt: skip
    result = compare(small, large, limit)
    markdown = render(result, small, large)
    (RESULTS_DIR / "growth-latest.md").write_text(markdown)
    (RESULTS_DIR / "growth-latest.json").write_text(
        json.dumps({"comparison": result, "small": small.get("meta"), "large": large.get("meta")}, indent=2,
                   ensure_ascii=False) + "\n"
    )  # fmt: skip
    print(markdown)
    log(f"wrote {RESULTS_DIR / 'growth-latest.md'}")
    return 0 if result["passed"] and small["exit_code"] == 0 and large["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
