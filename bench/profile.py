"""Where does a scenario's time go? In-process profile on the database ``make bench`` seeded.

    .venv/bin/python -m bench.profile [scenario ...] [--requests 150] [--explain] [--cprofile] [--layers]
        [--held TABLE]

For each scenario (default: all that can run) it sends requests through Django's test
client (the full middleware stack, no gunicorn, no network) and prints:

- queries per request (min/max over the sampled paths: a growing number is an N+1),
  and their total database time as seen by Django;
- CPU ms per request in this process (best of three rounds), to compare with the
  baseline's: what the endpoint costs beyond the fixed per-request price;
- with ``--explain``: every query of the first path, and EXPLAIN (ANALYZE, BUFFERS) of
  each read, condensed to plan lines with index use, planning and execution time;
- with ``--cprofile``: the project functions with the most cumulative CPU time;
- with ``--layers``: the Python function calls (C functions included) each middleware layer
  makes per request on its own, its inner layers and the view excluded (``layer_calls``). A
  count does not drift with the host as timings do (on this kind of machine the same run
  moves by 20 %): it says where a per-request price is paid and whether a change cut it;
- with ``--held TABLE``: how long each transaction holds the rows it locks in ``TABLE``,
  from the UPDATE or SELECT … FOR UPDATE that locks them to its commit (``row_held``).
  Every other writer of a hot row (a campaign's counter, a best-seller's stock) waits that
  long: one over it is the most transactions per second that row takes, however many
  cores serve the requests.

It uses the same settings, database and Redis as ``bench.run`` (``BENCH_DATABASE_URL``,
``BENCH_REDIS_URL``), so run ``make bench`` (or ``BENCH_SCENARIOS=baseline make bench``
for a quick seed) first.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import os
import pstats
import statistics
import time
from typing import Any


def _setup(settings: str | None = None) -> None:
    from bench.run import SETTINGS, Config

    config = Config.from_env()
    os.environ.update(
        DJANGO_SETTINGS_MODULE=settings or SETTINGS,
        DATABASE_URL=config.database_url,
        REDIS_URL=config.redis_url,
        CELERY_BROKER_URL=config.redis_url,
        DB_POOL="true",  # like the gunicorn workers: a connection is reused, not reopened
        DB_POOL_MIN_SIZE="1",
        DB_POOL_MAX_SIZE="1",
    )
    import django

    django.setup()


def _explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        lines = [row[0] for row in cursor.fetchall()]
    keep = (
        "Scan",
        "Join",
        "Sort",
        "Limit",
        "Aggregate",
        "Planning Time",
        "Execution Time",
        "Index Cond",
        "Filter",
    )
    return [line for line in lines if any(word in line for word in keep)]


#: The wrapper Django puts around every middleware layer and the view
#: (``convert_exception_to_response``): a frame it calls is the next layer's entry.
_LAYER_WRAPPER = ("inner", os.path.join("django", "core", "handlers", "exception.py"))


def layer_calls(send: Any, count: int) -> dict[str, float]:
    """Function calls per request (Python and C) made by each middleware layer itself,
    from ``count`` calls of ``send()``, keyed by the layer's class name; the innermost
    wrapped call (Django's ``_get_response``: URL resolution, ``process_view`` hooks and the
    view) is under the handler's class name. Calls made before the first layer (the WSGI
    handler building the request) are not counted."""
    import collections
    import sys

    counts: collections.Counter[str] = collections.Counter()
    owners: list[tuple[Any, str]] = []
    name, path = _LAYER_WRAPPER

    def tracer(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            back = frame.f_back
            if back is not None and back.f_code.co_name == name and back.f_code.co_filename.endswith(path):
                layer = frame.f_locals.get("self")
                owners.append((frame, type(layer).__name__ if layer is not None else frame.f_code.co_name))
            if owners:
                counts[owners[-1][1]] += 1
        elif event == "c_call":
            if owners:
                counts[owners[-1][1]] += 1
        elif event == "return" and owners and owners[-1][0] is frame:
            owners.pop()

    sys.setprofile(tracer)
    try:
        for _ in range(count):
            send()
    finally:
        sys.setprofile(None)
    return {layer: calls / count for layer, calls in counts.most_common()}


def _locks_rows_of(sql: str, table: str) -> bool:
    """An UPDATE of ``table``, or a SELECT … FOR UPDATE reading from it."""
    if sql.startswith((f'UPDATE "{table}" ', f"UPDATE {table} ")):
        return True
    return sql.startswith("SELECT") and " FOR UPDATE" in sql and f'FROM "{table}"' in sql


def row_held(send: Any, count: int, table: str) -> list[float]:
    """Wall ms from each transaction's first statement that locks rows of ``table`` (an
    UPDATE, a SELECT … FOR UPDATE) to its commit, over ``count`` calls of ``send``. One
    client and no contention: the least such a row is held."""
    from django.db import connection, transaction

    held: list[float] = []
    started: list[float] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not started and connection.in_atomic_block and _locks_rows_of(sql, table):
            started.append(time.perf_counter())
            transaction.on_commit(lambda: held.append((time.perf_counter() - started.pop()) * 1000))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        for _ in range(count):
            send()
            started.clear()  # a transaction that rolled back never commits
    return held


def _print_held(send: Any, count: int, table: str) -> list[float]:
    held = sorted(row_held(send, count, table))
    if not held:
        print(f"   no committed transaction locked rows of {table}")
        return held
    print(
        f"   {table} rows held from their lock to commit: {len(held)} transactions, median "
        f"{statistics.median(held):.2f} ms, mean {statistics.mean(held):.2f}, "
        f"P95 {held[int(len(held) * 0.95)]:.2f} (one client: at most ~{1000 / statistics.median(held):.0f} "
        "such transactions/s per row)"
    )
    return held


def _print_layers(send: Any, count: int) -> dict[str, float]:
    calls = layer_calls(send, count)
    print(
        f"   function calls per request by middleware layer (itself only), total {sum(calls.values()):.0f}:"
    )
    for layer, n in calls.items():
        print(f"   {n:8.1f}  {layer}")
    return calls


def profile(
    name: str,
    *,
    requests: int,
    explain: bool,
    use_cprofile: bool,
    layers: bool = False,
    held: str | None = None,
) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.scenarios import REGISTRY, Context, SkipScenario, as_load

    item = REGISTRY[name]
    try:
        load = as_load(item.build(Context()))
    except SkipScenario as exc:
        print(f"== {name}: skipped ({exc})")
        return {}
    if load.flows:
        if layers or held:
            print(f"== {name}: --layers and --held measure plain scenarios only, not a flow's steps")
        return profile_flow(name, load, requests=requests, explain=explain, use_cprofile=use_cprofile)
    # a scenario with bodies or per-client headers (a guest cart token): each path carries
    # its own; ``paths`` stay plain strings for the loops below
    planned = load.requests()[:requests]
    paths = [f"{i}|{p}" for i, (p, _b, _h) in enumerate(planned)]
    headers = item.headers
    client = Client()

    def send(path: str, headers: dict[str, str]) -> Any:
        index, _sep, real = path.partition("|")
        _p, body, own = planned[int(index)]
        merged = {k: v for k, v in {**headers, **own}.items() if k.lower() != "content-type"}
        if body is not None:
            return client.generic(item.method, real, body, content_type="application/json", headers=merged)
        return client.generic(item.method, real, headers=merged)

    for path in paths[:20]:  # warm caches, imports, the connection
        send(path, headers=headers)
    counts, db_ms, statuses = [], [], set()
    spent = [0.0]

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - started

    for path in paths:
        spent[0] = 0.0
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
            response = send(path, headers=headers)
        statuses.add(response.status_code)
        counts.append(len(captured.captured_queries))
        db_ms.append(spent[0] * 1000)
    rounds = []
    for _ in range(3):
        started = time.process_time()
        for path in paths:
            send(path, headers=headers)
        rounds.append((time.process_time() - started) / len(paths) * 1000)
    result = {
        "queries_min": min(counts),
        "queries_max": max(counts),
        "db_ms_mean": sum(db_ms) / len(db_ms),
        "cpu_ms": min(rounds),
        "statuses": sorted(statuses),
    }
    print(
        f"== {name}: {len(paths)} paths, statuses {result['statuses']}, queries/request "
        f"{result['queries_min']}..{result['queries_max']}, DB time {result['db_ms_mean']:.2f} ms, "
        f"CPU {result['cpu_ms']:.2f} ms/request (in process)"
    )
    if explain:
        with CaptureQueriesContext(connection) as captured:
            send(paths[0], headers=headers)
        print(f"   {paths[0].partition('|')[2]}")
        for query in captured.captured_queries:
            print(f"   -- {query['sql'][:300]}")
            # Only reads: EXPLAIN ANALYZE runs the statement, and a write scenario's
            # INSERT/UPDATE would change the data again (BEGIN/COMMIT cannot be explained).
            if query["sql"].lstrip().upper().startswith(("SELECT", "WITH")):
                for line in _explain(query["sql"]):
                    print(f"      {line.strip()[:200]}")
    if use_cprofile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for path in paths:
            send(path, headers=headers)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
        stats.print_stats(
            os.environ.get("PROFILE_FILTER", r"apps/|joopang/|bench/"),
            int(os.environ.get("PROFILE_LIMIT", "25")),
        )
        print(out.getvalue())
    if layers:
        sent = iter(paths)
        result["layer_calls"] = _print_layers(lambda: send(next(sent), headers=headers), len(paths))
    if held:
        cycled = itertools.cycle(paths)  # a one-path scenario (hot_sku) sends it ``requests`` times
        result["held_ms"] = _print_held(lambda: send(next(cycled), headers=headers), requests, held)
    return result


def profile_flow(name: str, load: Any, *, requests: int, explain: bool, use_cprofile: bool) -> dict[str, Any]:
    """A flow (the checkout): its iterations through the test client, each client's flow in
    turn, with queries, database time and CPU per step label; ``--explain`` lists every
    query of one iteration, step by step (statements only: most are writes)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.scenarios import REGISTRY

    item = REGISTRY[name]
    client = Client()
    per_label: dict[str, dict[str, list[float]]] = {}
    captured_one: list[tuple[str, list[str]]] = []
    spent = [0.0]

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - started

    def make_send(record: bool) -> Any:
        def send(method: str, path: str, body: str | None, own: dict[str, str]) -> tuple[int, bytes]:
            merged = {k: v for k, v in {**item.headers, **own}.items() if k.lower() != "content-type"}
            spent[0] = 0.0
            cpu = time.process_time()
            with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
                response = client.generic(
                    method, path, body or "", content_type="application/json", headers=merged
                )
            cpu = time.process_time() - cpu
            if record:
                label = next(s.label for s in flow.steps if s.method == method and _matches(s.path, path))
                own_stats = per_label.setdefault(
                    label, {"queries": [], "db_ms": [], "cpu_ms": [], "status": []}
                )
                own_stats["queries"].append(len(captured.captured_queries))
                own_stats["db_ms"].append(spent[0] * 1000)
                own_stats["cpu_ms"].append(cpu * 1000)
                own_stats["status"].append(response.status_code)
                if explain and len(captured_one) < len(flow.steps):
                    captured_one.append((label, [q["sql"] for q in captured.captured_queries]))
            return response.status_code, response.content

        return send

    def run(flow: Any, record: bool) -> None:
        load.run_flow(flow, make_send(record))

    iterations = max(1, requests // 4)
    flows = load.flows
    for k in range(min(5, iterations)):  # warm caches, imports, the connection
        flow = flows[k % len(flows)]
        run(flow, False)
    profiler = cProfile.Profile(time.process_time) if use_cprofile else None
    if profiler:
        profiler.enable()
    for k in range(iterations):
        flow = flows[k % len(flows)]
        run(flow, True)
    if profiler:
        profiler.disable()
    result: dict[str, Any] = {}
    print(f"== {name}: {iterations} iterations (CPU per request in process: median)")
    for label, own in per_label.items():
        cpu_sorted = sorted(own["cpu_ms"])
        result[label] = {
            "queries_min": min(own["queries"]),
            "queries_max": max(own["queries"]),
            "db_ms_mean": sum(own["db_ms"]) / len(own["db_ms"]),
            "cpu_ms": cpu_sorted[len(cpu_sorted) // 2],
            "statuses": sorted(set(own["status"])),
        }
        r = result[label]
        print(
            f"   {label}: {len(own['queries'])} requests, statuses {r['statuses']}, queries/request "
            f"{r['queries_min']}..{r['queries_max']}, DB time {r['db_ms_mean']:.2f} ms, CPU {r['cpu_ms']:.2f} ms"
        )
    for label, queries in captured_one:
        print(f"   -- {label}: {len(queries)} queries")
        for sql in queries:
            print(f"      {sql[:240]}")
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
        stats.print_stats(
            os.environ.get("PROFILE_FILTER", r"apps/|joopang/|bench/"),
            int(os.environ.get("PROFILE_LIMIT", "25")),
        )
        print(out.getvalue())
    return result


def _matches(template: str, path: str) -> bool:
    """``/orders/{id}/payments`` matches ``/orders/<uuid>/payments``."""
    head, _sep, tail = template.partition("{")
    if not _sep:
        return template == path
    return path.startswith(head) and path.endswith(tail.partition("}")[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("scenarios", nargs="*")
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--layers", action="store_true", help="function calls per middleware layer")
    parser.add_argument(
        "--held", metavar="TABLE", help="how long a transaction holds the rows it locks in TABLE"
    )
    parser.add_argument(
        "--settings",
        help="another settings module, e.g. joopang.settings.bench_bare (baseline_bare's middleware) "
        "to compare the floor's layers in process",
    )
    args = parser.parse_args()
    _setup(args.settings)
    from bench.scenarios import REGISTRY

    for name in args.scenarios or list(REGISTRY):
        profile(
            name,
            requests=args.requests,
            explain=args.explain,
            use_cprofile=args.cprofile,
            layers=args.layers,
            held=args.held,
        )


if __name__ == "__main__":
    main()
