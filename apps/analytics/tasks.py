"""Analytics tasks: thin, idempotent."""

from __future__ import annotations

from celery import shared_task

from apps.analytics import services


@shared_task(
    name="joopang.analytics.aggregates_refresh_due", ignore_result=True, soft_time_limit=240, time_limit=300
)
def aggregates_refresh_due_task() -> int:
    """Beat, every few minutes: build each market's day that ended at its local midnight
    (and catch up on missed or stale days). Returns the market-days rebuilt."""
    return len(services.aggregates_refresh_due())
