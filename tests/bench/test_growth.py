"""``bench.growth.compare``: the growth of each scenario's CPU per request from the small to
the large dataset, raw and against each run's own baseline (the host's drift)."""

from bench.growth import compare, render


def _row(name, gunicorn, postgres, rps=100.0):
    return {
        "name": name,
        "rps": rps,
        "p95_ms": 50.0,
        "extra": {
            "cpu_ms_per_request": {"gunicorn": gunicorn, "postgres": postgres},
            "other_machine_share": 0.02,
            "loadavg_1m": 2.0,
        },
    }


def _run(*rows):
    return {"scenarios": list(rows), "meta": {"dataset": {"requested_products": 10000}}}


def test_a_host_that_got_slower_between_the_runs_fails_no_scenario_by_itself():
    # The whole large run was 30 % dearer (the baseline too); search grew 10 % beyond that.
    small = _run(_row("baseline", 1.5, 0.1), _row("search", 2.5, 0.3))
    large = _run(_row("baseline", 1.95, 0.13), _row("search", 3.2, 0.5))
    result = compare(small, large, 20.0)
    rows = {row["name"]: row for row in result["rows"]}
    assert result["host_drift_pct"] == 30.0
    assert rows["search"]["growth_pct"] == 32.1  # (3.7 - 2.8) / 2.8
    assert rows["search"]["growth_vs_baseline_pct"] == 1.6  # (3.7 / 2.08) / (2.8 / 1.6) - 1
    assert rows["search"]["passed"] is True
    assert rows["baseline"]["growth_vs_baseline_pct"] == 0.0
    assert result["passed"] is True


def test_a_scenario_that_outgrew_its_baseline_fails_even_on_a_host_that_got_faster():
    small = _run(_row("baseline", 2.0, 0.0), _row("product_list", 3.0, 0.5))
    large = _run(_row("baseline", 1.5, 0.0), _row("product_list", 3.0, 1.0))
    result = compare(small, large, 20.0)
    row = next(r for r in result["rows"] if r["name"] == "product_list")
    assert row["growth_pct"] == 14.3  # raw: within 20 %
    assert row["growth_vs_baseline_pct"] == 52.4  # (4.0 / 1.5) / (3.5 / 2.0) - 1
    assert row["passed"] is False
    assert result["passed"] is False
    text = render(result, small, large)
    assert "| product_list | 3.50 | 4.00 | +14.3 % | +52.4 % | FAIL |" in text
    assert "here -25.0 %" in text and "Overall: **FAIL**" in text


def test_without_a_baseline_in_both_runs_the_raw_growth_is_judged():
    small = _run(_row("search", 2.0, 0.0))
    large = _run(_row("search", 2.6, 0.0))
    result = compare(small, large, 20.0)
    (row,) = result["rows"]
    assert row["growth_vs_baseline_pct"] is None
    assert row["growth_pct"] == 30.0
    assert row["passed"] is False
    assert result["host_drift_pct"] is None


def test_each_runs_reference_is_the_mean_of_its_first_and_last_baselines():
    small = _run(_row("baseline", 2.0, 0.0), _row("search", 3.0, 0.0), _row("baseline_again", 1.0, 0.0))
    large = _run(_row("baseline", 1.5, 0.0), _row("search", 3.0, 0.0))
    result = compare(small, large, 20.0)
    assert result["host_drift_pct"] == 0.0  # 1.5 against the mean of 2.0 and 1.0
    search = next(r for r in result["rows"] if r["name"] == "search")
    assert search["growth_vs_baseline_pct"] == 0.0 and search["passed"] is True
