"""``bench.growth.compare``: the growth of each scenario's CPU per request from the small to
the large dataset (the verdict), beside the growth against each run's baseline and the
host's drift, which says whether the verdict can be trusted."""

import pytest

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


def test_the_raw_growth_is_judged_and_the_baseline_ratio_shown_beside_it():
    small = _run(_row("baseline", 1.5, 0.1), _row("search", 2.5, 0.3), _row("baseline_again", 1.55, 0.1))
    large = _run(_row("baseline", 1.6, 0.1), _row("search", 3.2, 0.5), _row("baseline_again", 1.6, 0.12))
    result = compare(small, large, 20.0)
    rows = {row["name"]: row for row in result["rows"]}
    assert rows["search"]["growth_pct"] == 32.1  # (3.7 - 2.8) / 2.8
    assert rows["search"]["growth_vs_baseline_pct"] == 24.4  # (3.7 / 1.7) / (2.8 / 1.6) - 1
    assert rows["search"]["passed"] is False and result["passed"] is False
    assert rows["baseline"]["growth_vs_baseline_pct"] == 0.0 and rows["baseline"]["passed"] is True
    assert result["host_drift"] == {"between_runs_pct": 6.2, "within_small_pct": 3.1, "within_large_pct": 1.2}
    assert result["steady"] is True  # every drift within half the limit
    text = render(result, small, large)
    assert "| search | 2.80 | 3.70 | +32.1 % | +24.4 % | FAIL |" in text
    assert "Overall: **FAIL**" in text and "steady enough" in text


def test_a_host_that_moved_within_a_run_makes_the_verdict_indicative():
    # session 8's small run: the last baseline cost 41 % more than the first
    small = _run(_row("baseline", 1.59, 0.0), _row("search", 2.66, 0.0), _row("baseline_again", 2.25, 0.0))
    large = _run(_row("baseline", 1.58, 0.0), _row("search", 2.67, 0.0), _row("baseline_again", 1.48, 0.0))
    result = compare(small, large, 20.0)
    assert result["host_drift"]["within_small_pct"] == 41.5
    assert result["steady"] is False
    assert result["passed"] is True  # the raw growths are small; the table says how far to trust them
    assert "only indicative; repeat the runs" in render(result, small, large)


def test_without_baselines_the_growth_is_judged_alone():
    small = _run(_row("search", 2.0, 0.0))
    large = _run(_row("search", 2.6, 0.0))
    result = compare(small, large, 20.0)
    (row,) = result["rows"]
    assert row["growth_vs_baseline_pct"] is None
    assert row["growth_pct"] == 30.0 and row["passed"] is False
    assert result["host_drift"] == {
        "between_runs_pct": None,
        "within_small_pct": None,
        "within_large_pct": None,
    }
    assert result["steady"] is False  # nothing says the host held still


def test_each_run_writes_its_own_report_and_leaves_latest_alone(tmp_path, monkeypatch):
    import json

    from bench import growth

    monkeypatch.setattr(growth, "RESULTS_DIR", tmp_path)
    (tmp_path / "latest.md").write_text("the full benchmark's")
    (tmp_path / "growth-small.json").write_text('{"stale": true}')
    seen = []

    def fake_run(args, *, cwd, env):
        seen.append(env["BENCH_REPORT"])
        (tmp_path / f"{env['BENCH_REPORT']}.json").write_text(json.dumps({"scenarios": []}))
        return 1

    monkeypatch.setattr(growth.subprocess, "call", fake_run)
    report = growth._run("small", {"BENCH_PRODUCTS": "10"})

    assert seen == ["growth-small"]
    assert report == {"scenarios": [], "exit_code": 1}
    assert (tmp_path / "latest.md").read_text() == "the full benchmark's"

    def silent_run(args, *, cwd, env):
        return 2

    monkeypatch.setattr(growth.subprocess, "call", silent_run)
    with pytest.raises(SystemExit, match="wrote no"):
        growth._run("small", {})  # the stale report of an earlier run is not taken
