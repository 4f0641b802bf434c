"""Latency statistics: nearest-rank percentiles and one scenario's summary.

Nearest-rank (the smallest sample with at least p% of the samples at or below it) is used
on purpose: every reported P95/P99 is a latency some request really had, never an
interpolation between two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank ``p``-th percentile (0 < p <= 100) of already sorted values.

    Exact rank arithmetic (``Fraction``) so that e.g. P7 of 100 samples is the 7th value,
    not the 8th through a float rounding error. NaN for no samples.
    """
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    n = len(sorted_values)
    if n == 0:
        return math.nan
    rank = math.ceil(Fraction(str(p)) * n / 100)
    return float(sorted_values[max(rank, 1) - 1])


HISTOGRAM_BOUNDS_MS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def histogram(values: Sequence[float]) -> dict[str, int]:
    """Counts per latency bucket (``"<=50"`` = above the previous bound, up to 50 ms)."""
    counts = dict.fromkeys([f"<={b}" for b in HISTOGRAM_BOUNDS_MS] + [f">{HISTOGRAM_BOUNDS_MS[-1]}"], 0)
    for value in values:
        for bound in HISTOGRAM_BOUNDS_MS:
            if value <= bound:
                counts[f"<={bound}"] += 1
                break
        else:
            counts[f">{HISTOGRAM_BOUNDS_MS[-1]}"] += 1
    return counts


def is_success(status: int) -> bool:
    return 200 <= status < 300


@dataclass
class ScenarioSummary:
    name: str
    title: str
    requests: int
    errors: int
    error_rate: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    duration_s: float
    statuses: dict[str, int] = field(default_factory=dict)
    histogram_ms: dict[str, int] = field(default_factory=dict)
    p95_target_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Throughput target: req/s at least this share of the same run's baseline req/s
    #: (judged by ``bench.report``, which knows the baseline).
    rps_target_vs_baseline: float | None = None

    @property
    def passed(self) -> bool:
        """Zero errors, at least one request, and the P95 target (if any) met (the targets
        relative to other rows are ``bench.report``'s to judge)."""
        if self.errors or not self.requests:
            return False
        return self.p95_target_ms is None or self.p95_ms <= self.p95_target_ms

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data


def summarize(
    *,
    name: str,
    title: str,
    latencies_ms: Sequence[float],
    statuses: Mapping[str, int],
    duration_s: float,
    p95_target_ms: float | None = None,
    extra: Mapping[str, Any] | None = None,
    ok_statuses: Sequence[int] = (),
    rps_target_vs_baseline: float | None = None,
) -> ScenarioSummary:
    """One scenario's numbers from the load generator's raw samples.

    ``statuses`` counts every completed request by HTTP status ("0" = transport error:
    reset, timeout); anything but 2xx (and ``ok_statuses``: a flash sale's 409) is an error. Latency percentiles cover all of them.
    """
    values = sorted(latencies_ms)
    requests = sum(statuses.values())
    errors = sum(
        count
        for status, count in statuses.items()
        if not is_success(int(status)) and int(status) not in ok_statuses
    )
    return ScenarioSummary(
        name=name,
        title=title,
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        rps=requests / duration_s if duration_s > 0 else 0.0,
        p50_ms=percentile(values, 50),
        p95_ms=percentile(values, 95),
        p99_ms=percentile(values, 99),
        mean_ms=sum(values) / len(values) if values else math.nan,
        max_ms=values[-1] if values else math.nan,
        duration_s=duration_s,
        statuses=dict(sorted(statuses.items())),
        histogram_ms=histogram(values),
        p95_target_ms=p95_target_ms,
        extra=dict(extra or {}),
        rps_target_vs_baseline=rps_target_vs_baseline,
    )
