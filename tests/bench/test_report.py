from bench.report import build_report, render_markdown
from bench.stats import summarize


def _summary(name, latencies, statuses, target=None, duration=10.0):
    return summarize(
        name=name,
        title=name,
        latencies_ms=latencies,
        statuses=statuses,
        duration_s=duration,
        p95_target_ms=target,
    )


def _report():
    baseline = _summary("baseline", [10.0] * 100, {"200": 1000})
    product_list = _summary("product_list", [40.0] * 100, {"200": 250}, target=200)
    availability = _summary("availability", [150.0] * 100, {"200": 499, "503": 1}, target=100)
    meta = {
        "cpu_count": 2,
        "dataset": {"products": 10000, "skus": 30000, "categories": 20},
        "concurrency": 32,
        "client_floor": {"rps": 4000.0, "p50_ms": 7.84, "p95_ms": 8.61, "loadgen_cpu_ms_per_request": 0.251},
    }
    return build_report(meta=meta, summaries=[baseline, product_list, availability], skipped=[])


def test_report_gives_ratios_to_the_baseline_measured_in_the_same_run():
    report = _report()
    rows = {row["name"]: row for row in report["scenarios"]}
    assert rows["baseline"]["p95_vs_baseline"] == 1.0
    assert rows["product_list"]["p95_vs_baseline"] == 4.0
    assert rows["product_list"]["rps_vs_baseline"] == 0.25
    assert rows["availability"]["p95_vs_baseline"] == 15.0
    assert report["errors"] == 1
    assert report["passed"] is False


def test_markdown_table_shows_numbers_ratios_and_verdicts():
    markdown = render_markdown(_report())
    assert "- dataset: 10000 products, 30000 SKUs, 20 categories" in markdown
    assert (
        "- load generator alone, against a do-nothing server on this machine: 4000 req/s, "
        "P50 7.8 ms, P95 8.6 ms, 0.25 ms CPU per request" in markdown
    )
    assert (
        "| baseline | 100 | 10.0 | 10.0 | 10.0 | 0 (0.00%) | 1000 | 1.00× | 1.00× | – | pass (0 errors) |"
        in markdown
    )
    assert (
        "| product_list | 25 | 40.0 | 40.0 | 40.0 | 0 (0.00%) | 250 | 4.00× | 0.25× | ≤ 200 ms | pass |"
        in markdown
    )
    assert (
        "| availability | 50 | 150 | 150 | 150 | 1 (0.20%) | 500 | 15.00× | 0.50× | ≤ 100 ms "
        "| FAIL: 1 errors, P95 > 100 ms |" in markdown
    )
    assert "**Result: some targets NOT met** (1 errors in total)." in markdown


def test_report_without_baseline_has_no_ratios_and_lists_skipped_scenarios():
    only = _summary("search", [5.0], {"200": 10})
    report = build_report(meta={}, summaries=[only], skipped=[{"name": "availability", "reason": "no SKUs"}])
    assert report["scenarios"][0]["p95_vs_baseline"] is None
    markdown = render_markdown(report)
    assert "| search | 1 | 5.0 | 5.0 | 5.0 | 0 (0.00%) | 10 | – | – | – | pass (0 errors) |" in markdown
    assert "- skipped **availability**: no SKUs" in markdown
    assert "**Result: all targets met** (0 errors in total)." in markdown


def test_cpu_table_projects_throughput_on_free_cores():
    # given 2 cores and 4 + 0.5 + 0.5 = 5 ms of CPU per request
    summary = summarize(
        name="baseline",
        title="b",
        latencies_ms=[10.0],
        statuses={"200": 1},
        duration_s=1.0,
        extra={
            "cpu_ms_per_request": {"gunicorn": 4.0, "postgres": 0.5, "loadgen": 0.5},
            "loadgen_core_share": 0.1,
            "other_machine_share": 0.25,
        },
    )
    report = build_report(meta={"cpu_count": 2, "concurrency": 32}, summaries=[summary])
    # then 400 req/s, and 32 clients would wait 80 ms on average
    assert "| baseline | 4.00 | 0.50 | 0.50 | 10% | 25% | 400 | 80 ms |" in render_markdown(report)


def _cpu_summary(name, rps_requests, gunicorn_ms):
    return summarize(
        name=name,
        title=name,
        latencies_ms=[10.0],
        statuses={"200": rps_requests},
        duration_s=1.0,
        extra={"cpu_ms_per_request": {"gunicorn": gunicorn_ms, "postgres": 0.3, "loadgen": 0.2}},
    )


def test_middleware_floor_compares_the_baseline_with_the_bare_stack_of_the_same_run():
    # given the full stack at 3 ms of gunicorn CPU and 400 req/s, the bare one at 2 ms and 600
    report = build_report(
        meta={}, summaries=[_cpu_summary("baseline", 400, 3.0), _cpu_summary("baseline_bare", 600, 2.0)]
    )
    floor = report["middleware_floor"]
    assert floor["cpu_ratio"] == 1.5
    assert floor["rps_ratio"] == 400 / 600
    assert floor["passed"] is False
    assert report["passed"] is False
    markdown = render_markdown(report)
    assert (
        "- **middleware floor**: baseline costs 3.00 ms of gunicorn CPU per request vs bare 2.00 ms (1.50×); "
        "req/s 400 vs bare 600 (0.67×). Target (issue 25): no more CPU per request than Django's default "
        "middleware, i.e. ≤ 1.00×: **FAIL**" in markdown
    )
    # when the full stack costs no more than the bare one, the floor passes
    even = build_report(
        meta={}, summaries=[_cpu_summary("baseline", 600, 2.0), _cpu_summary("baseline_bare", 600, 2.0)]
    )
    assert even["middleware_floor"]["passed"] is True
    # and without the bare scenario there is no floor
    assert build_report(meta={}, summaries=[_cpu_summary("baseline", 400, 3.0)])["middleware_floor"] is None
