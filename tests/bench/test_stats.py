import math

import pytest

from bench.stats import percentile, summarize


def test_percentile_nearest_rank_of_one_to_hundred():
    # given 1..100 ms
    values = [float(v) for v in range(1, 101)]
    # then the p-th percentile is the p-th value, even where float math would round up
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 7) == 7.0
    assert percentile(values, 57) == 57.0
    assert percentile(values, 100) == 100.0


def test_percentile_small_samples_take_the_next_real_value():
    # given four samples: rank = ceil(p/100 * 4)
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 20.0
    assert percentile(values, 51) == 30.0
    assert percentile(values, 95) == 40.0
    assert percentile([5.0], 99) == 5.0


def test_percentile_of_nothing_is_nan_and_bad_p_is_refused():
    assert math.isnan(percentile([], 95))
    with pytest.raises(ValueError):
        percentile([1.0], 0)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_counts_non_2xx_and_transport_errors():
    # given 8 answers in 2 s: 6 OK, one 500, one transport error (status 0)
    latencies = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 80.0]
    statuses = {"200": 5, "201": 1, "500": 1, "0": 1}
    # when
    summary = summarize(
        name="x", title="X", latencies_ms=latencies, statuses=statuses, duration_s=2.0, p95_target_ms=100
    )
    # then
    assert summary.requests == 8
    assert summary.errors == 2
    assert summary.error_rate == 0.25
    assert summary.rps == 4.0
    assert summary.p50_ms == 4.0
    assert summary.p95_ms == 80.0
    assert summary.max_ms == 80.0
    assert summary.mean_ms == 13.5
    assert summary.passed is False  # errors fail a scenario even when P95 is within target


def test_summary_passes_only_within_target_and_without_errors():
    def run(p95_target):
        return summarize(
            name="x",
            title="X",
            latencies_ms=[10.0] * 19 + [250.0],
            statuses={"200": 20},
            duration_s=1.0,
            p95_target_ms=p95_target,
        )

    assert run(200).p95_ms == 10.0
    assert run(200).passed is True
    assert run(5).passed is False
    assert run(None).passed is True
    empty = summarize(name="x", title="X", latencies_ms=[], statuses={}, duration_s=1.0)
    assert empty.passed is False


def test_histogram_buckets_by_upper_bound():
    from bench.stats import histogram

    counts = histogram([0.5, 5.0, 5.1, 49.9, 50.0, 150.0, 6000.0])
    assert counts["<=5"] == 2
    assert counts["<=10"] == 1
    assert counts["<=50"] == 2
    assert counts["<=200"] == 1
    assert counts[">5000"] == 1
    assert sum(counts.values()) == 7
