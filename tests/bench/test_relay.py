"""The relay benchmark's arithmetic and report (``bench/relay.py``); the run itself needs
PostgreSQL, Redis and Celery workers and is started by hand (``python -m bench.relay``)."""

import math

from bench.relay import lag_summary, render_markdown


def test_lag_summary_is_nearest_rank_in_milliseconds():
    lags = [i / 1000 for i in range(1, 101)]  # 1..100 ms, shuffled order does not matter
    summary = lag_summary(list(reversed(lags)))
    assert summary == {"n": 100, "p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "max_ms": 100.0}


def test_lag_summary_of_nothing_is_nan():
    summary = lag_summary([])
    assert summary["n"] == 0 and math.isnan(summary["p95_ms"])


def test_report_names_the_throughput_the_p95_and_failures():
    report = {
        "started_at": "2026-11-30T0921Z",
        "commit": "abc1234",
        "cores": 2,
        "cpu": "AMD EPYC",
        "config": {"workers": 2, "batch": 100, "aggregates": 500, "rate": 200.0, "duration_s": 20.0},
        "throughput": {
            "events": 20000,
            "seconds": 10.0,
            "events_per_s": 2000.0,
            "calls": 200,
            "duplicates": 0,
        },
        "lag": {
            "published": 4000,
            "achieved_rate": 199.9,
            "delivered": 4000,
            "runs": 150,
            "p50_ms": 28.0,
            "p95_ms": 56.3,
            "p99_ms": 70.0,
            "max_ms": 90.0,
        },
        "failures": ["3 events not delivered"],
    }
    text = render_markdown(report)
    assert "**2,000 events/s** (10.0 s, 200 calls)" in text
    assert "| end-to-end lag P95 | **56 ms** |" in text
    assert "**FAILED**: 3 events not delivered" in text
