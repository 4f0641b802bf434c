import pytest

from bench.report import build_report, render_markdown
from bench.stats import summarize


def _summary(name, latencies, statuses, target=None, duration=10.0, rps_target=None, extra=None):
    return summarize(
        name=name,
        title=name,
        latencies_ms=latencies,
        statuses=statuses,
        duration_s=duration,
        p95_target_ms=target,
        rps_target_vs_baseline=rps_target,
        extra=extra,
    )


def _machine(gunicorn, other, load):
    return {
        "cpu_ms_per_request": {"gunicorn": gunicorn, "postgres": 1.0, "loadgen": 0.5},
        "other_machine_share": other,
        "loadavg_1m": load,
    }


def _report():
    baseline = _summary("baseline", [10.0] * 100, {"200": 1000}, extra=_machine(3.0, 0.04, 5.1))
    product_list = _summary(
        "product_list", [40.0] * 100, {"200": 250}, target=200, rps_target=0.5, extra=_machine(11.0, 0.3, 6.2)
    )
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
    # CPU per request on the server side: (11 + 1) / (3 + 1)
    assert rows["product_list"]["cpu_vs_baseline"] == 3.0
    assert rows["availability"]["p95_vs_baseline"] == 15.0
    assert rows["availability"]["cpu_vs_baseline"] is None
    # every row's targets judged: the P95 met, the req/s share not (0.25 < 0.5)
    assert rows["product_list"]["targets"] == {"P95 ≤ 200 ms": True, "req/s ≥ 50% of baseline": False}
    assert rows["product_list"]["passed"] is False
    assert rows["baseline"]["targets"] == {}
    assert rows["baseline"]["passed"] is True
    assert report["errors"] == 1
    assert report["passed"] is False


def test_markdown_table_shows_numbers_ratios_machine_load_and_verdicts():
    markdown = render_markdown(_report())
    assert "- dataset: 10000 products, 30000 SKUs, 20 categories" in markdown
    assert (
        "- load generator alone, against a do-nothing server on this machine: 4000 req/s, "
        "P50 7.8 ms, P95 8.6 ms, 0.25 ms CPU per request" in markdown
    )
    assert (
        "| scenario | req/s | P50 ms | P95 ms | P99 ms | errors | requests | req/s vs baseline | P95 vs baseline "
        "| CPU/req vs baseline | others, % of machine | load avg | targets | result |" in markdown
    )
    assert (
        "| baseline | 100 | 10.0 | 10.0 | 10.0 | 0 (0.00%) | 1000 | 1.00× | 1.00× | 1.00× | 4% | 5.1 | – "
        "| pass (0 errors) |" in markdown
    )
    assert (
        "| product_list | 25 | 40.0 | 40.0 | 40.0 | 0 (0.00%) | 250 | 0.25× | 4.00× | 3.00× | 30% | 6.2 "
        "| P95 ≤ 200 ms; req/s ≥ 50% of baseline | FAIL: req/s 0.25× < 50% |" in markdown
    )
    assert (
        "| availability | 50 | 150 | 150 | 150 | 1 (0.20%) | 500 | 0.50× | 15.00× | – | – | – "
        "| P95 ≤ 100 ms | FAIL: 1 errors, P95 > 100 ms |" in markdown
    )
    assert "**Result: some targets NOT met** (1 errors in total)." in markdown


def test_a_throughput_target_is_met_at_its_share_and_not_without_a_baseline():
    baseline = _summary("baseline", [10.0], {"200": 1000})
    half = _summary("html_home", [10.0], {"200": 500}, rps_target=0.5)
    report = build_report(meta={}, summaries=[baseline, half])
    assert report["scenarios"][1]["targets"] == {"req/s ≥ 50% of baseline": True}
    assert report["passed"] is True
    # without a baseline in the run the share cannot be judged: not met
    alone = build_report(meta={}, summaries=[half])
    assert alone["scenarios"][0]["targets"] == {"req/s ≥ 50% of baseline": False}
    assert "FAIL: req/s – < 50%" in render_markdown(alone)


def test_targets_judged_after_the_load_join_the_row():
    baseline = _summary("baseline", [10.0], {"200": 1000})
    flash = _summary(
        "flash_sale", [10.0], {"201": 10, "409": 90}, extra={"targets": {"zero over-issuance": True}}
    )
    flash.extra["targets"]["sold-out answers ≥ 50 % of baseline req/s"] = False
    report = build_report(meta={}, summaries=[baseline, flash])
    row = report["scenarios"][1]
    assert row["passed"] is False
    assert "FAIL: 90 errors, not met: sold-out answers ≥ 50 % of baseline req/s" in render_markdown(report)


def test_report_without_baseline_has_no_ratios_and_lists_skipped_scenarios():
    only = _summary("availability", [5.0], {"200": 10})
    report = build_report(meta={}, summaries=[only], skipped=[{"name": "search", "reason": "no SKUs"}])
    assert report["scenarios"][0]["p95_vs_baseline"] is None
    markdown = render_markdown(report)
    assert (
        "| availability | 1 | 5.0 | 5.0 | 5.0 | 0 (0.00%) | 10 | – | – | – | – | – | – | pass (0 errors) |"
        in markdown
    )
    assert "- skipped **search**: no SKUs" in markdown
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


def test_middleware_floor_measured_a_b_b_a_takes_each_sides_mean():
    # the host slowed steadily: full 2.0, bare 1.8, bare 2.2, full 2.6 ms; a single A-B says
    # 1.11x, the A-B-B-A means say (2.0 + 2.6) / (1.8 + 2.2) = 1.15x
    report = build_report(
        meta={},
        summaries=[
            _cpu_summary("baseline", 500, 2.0),
            _cpu_summary("baseline_bare", 560, 1.8),
            _cpu_summary("baseline_bare_2", 460, 2.2),
            _cpu_summary("baseline_2", 380, 2.6),
        ],
    )
    floor = report["middleware_floor"]
    assert floor["baseline_cpu_ms"] == 2.3 and floor["bare_cpu_ms"] == 2.0
    assert round(floor["cpu_ratio"], 2) == 1.15
    assert floor["baseline_rps"] == 440 and floor["bare_rps"] == 510
    assert floor["rounds"] == [
        ("baseline", 2.0),
        ("baseline_bare", 1.8),
        ("baseline_bare_2", 2.2),
        ("baseline_2", 2.6),
    ]
    assert floor["passed"] is False
    markdown = render_markdown(report)
    assert "vs bare 2.00 ms (1.15×)" in markdown
    assert (
        "measured A-B-B-A, gunicorn CPU ms per request in order: baseline 2.00, baseline_bare 1.80, "
        "baseline_bare_2 2.20, baseline_2 2.60" in markdown
    )


def test_host_drift_compares_the_baseline_at_the_end_with_the_first():
    # given the first baseline at 500 req/s and 2.3 ms of server CPU, the last at 400 and 2.76
    report = build_report(
        meta={}, summaries=[_cpu_summary("baseline", 500, 2.0), _cpu_summary("baseline_again", 400, 2.46)]
    )
    drift = report["host_drift"]
    assert drift["rps_ratio"] == pytest.approx(0.8)
    assert drift["cpu_ratio"] == pytest.approx(2.76 / 2.3)
    assert (
        "- **host drift**: the baseline again at the end of the run (`baseline_again`) served 0.80× the first"
        in (render_markdown(report))
    )
    # and a run without it reports none
    assert build_report(meta={}, summaries=[_cpu_summary("baseline", 400, 3.0)])["host_drift"] is None


def test_rows_of_a_run_carry_their_throughput_target_and_the_machine_load_of_their_window():
    from bench.run import scenario_summaries
    from bench.scenarios import REGISTRY, ClientFlow, FlowStep, Load, Row

    result = {
        "duration_s": 2.0,
        "latencies_ms": [5.0, 6.0],
        "statuses": {"200": 2},
        "cpu_s": 0.01,
        "cpu_wall_s": 2.0,
        "connections_opened": 2,
        "warmup_requests": 0,
        "distinct_paths": 1,
        "transport_errors": {},
        "samples": [],
        "cpu": {"gunicorn": 0.02, "postgres": 0.004, "busy": 3.0, "total": 4.0, "loadavg_1m": 6.5},
    }
    # a plain scenario: its req/s share target and the machine's load during it
    [row] = scenario_summaries(REGISTRY["html_product"], Load(paths=["/"]), result, cores=2)
    assert row.rps_target_vs_baseline == 0.5
    assert row.extra["loadavg_1m"] == 6.5
    assert row.extra["other_machine_share"] == (3.0 - 0.034) / 4.0
    # a flow: each row its own target (``checkout`` = create + pay iterations), every row the load
    flow = Load(
        flows=[ClientFlow(headers={}, steps=[FlowStep("checkout.create", "POST", "/x", sum="checkout")])],
        rows=[Row("checkout", "create + pay"), Row("checkout.create", "create", 400)],
    )
    by_label = {"checkout": {"latencies_ms": [9.0], "statuses": {"200": 1}}}
    rows = scenario_summaries(REGISTRY["checkout"], flow, {**result, "by_label": by_label}, cores=2)
    assert [(r.name, r.rps_target_vs_baseline) for r in rows] == [
        ("checkout", 0.25),
        ("checkout.create", None),
    ]
    assert [r.extra["loadavg_1m"] for r in rows] == [6.5, 6.5]
    assert "cpu_ms_per_request" in rows[0].extra and "cpu_ms_per_request" not in rows[1].extra
