"""Signals of the outbox relay (issue 22 item 5): Prometheus series and their structlog events.

Each delivery logs one event (``integrations.delivered`` or ``integrations.delivery_failed``,
flow ``outbox``, with ``batch_id``, ``count``, ``status``, ``duration_ms``) and moves its
series, so a dashboard and a log search tell the same story.

Two kinds of series:

- **Counters and histograms** moved by the relay where it runs (the Celery worker):
  events delivered / retried / failed, batch call duration by outcome, delivery latency
  (commit → acknowledgement, i.e. ``now − occurred_at`` at the ack), breaker state.
- **Gauges read from the database at scrape time** (``gauges_refresh``, a
  ``METRICS_REFRESH_HOOKS`` entry): backlog by status and the oldest undelivered event's
  age. Two cheap queries on the partial index of undelivered rows, so the web process's
  ``/metrics`` shows the live backlog whichever process delivers.

Label values are bounded: five outcomes, four statuses, three breaker states.
"""

from __future__ import annotations

from typing import Any

import pybreaker
import structlog
from prometheus_client import Counter, Gauge, Histogram

logger = structlog.get_logger("apps.integrations")

EVENTS = Counter(
    "joopang_outbox_events_total",
    "Outbox events by what a delivery attempt did to them: delivered (acknowledged), retried "
    "(failed, back to pending with backoff), failed (max attempts reached), released (circuit "
    "open, nothing sent).",
    ["result"],
)
CALLS = Counter(
    "joopang_outbox_webhook_calls_total",
    "Webhook calls (one per batch) by outcome (ok, http_error, timeout, connection_error, circuit_open).",
    ["outcome"],
)
CALL_SECONDS = Histogram(
    "joopang_outbox_webhook_call_seconds",
    "Duration of one webhook call (one batch), by outcome.",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LATENCY_SECONDS = Histogram(
    "joopang_outbox_delivery_latency_seconds",
    "Commit to acknowledgement of each delivered event (now - occurred_at at the ack).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
BACKLOG = Gauge(
    "joopang_outbox_backlog_events",
    "Outbox events by status (pending, delivering, failed; set at each /metrics scrape). "
    "Delivered events are not counted here (retention makes that number meaningless).",
    ["status"],
    multiprocess_mode="mostrecent",
)
OLDEST_PENDING_SECONDS = Gauge(
    "joopang_outbox_oldest_pending_age_seconds",
    "Age of the oldest undelivered event (pending or delivering), 0 when none (set at each scrape).",
    multiprocess_mode="mostrecent",
)
BREAKER_STATE = Gauge(
    "joopang_outbox_breaker_state",
    "Circuit breaker of the data-platform webhook: 0 closed, 1 half-open, 2 open.",
    multiprocess_mode="mostrecent",
)
BREAKER_TRANSITIONS = Counter(
    "joopang_outbox_breaker_transitions_total",
    "Transitions of the data-platform webhook's circuit breaker, by the state entered.",
    ["to"],
)

_STATE_VALUE = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}
_STATE_LABEL = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_HALF_OPEN: "half_open",
    pybreaker.STATE_OPEN: "open",
}


def delivered(
    *, batch_id: str, count: int, status: int | None, duration_ms: int, latencies: list[float], acked: int
) -> None:
    """A batch was acknowledged (2xx). ``acked`` of ``count`` were still ours to record
    (the rest were taken over or requeued meanwhile)."""
    CALLS.labels(outcome="ok").inc()
    CALL_SECONDS.labels(outcome="ok").observe(duration_ms / 1000)
    EVENTS.labels(result="delivered").inc(acked)
    for seconds in latencies:
        LATENCY_SECONDS.observe(max(0.0, seconds))
    logger.info(
        "integrations.delivered",
        flow="outbox",
        batch_id=batch_id,
        count=count,
        acked=acked,
        status=status,
        duration_ms=duration_ms,
        max_latency_ms=int(max(latencies) * 1000) if latencies else None,
    )


def delivery_failed(
    *,
    batch_id: str,
    count: int,
    outcome: str,
    status: int | None,
    duration_ms: int,
    error: str,
    retried: int,
    failed: int,
    released: int,
    next_attempt_in: float | None,
) -> None:
    """A batch was not acknowledged: retried with backoff, failed for good, or (circuit
    open) released without an attempt."""
    CALLS.labels(outcome=outcome).inc()
    CALL_SECONDS.labels(outcome=outcome).observe(duration_ms / 1000)
    if retried:
        EVENTS.labels(result="retried").inc(retried)
    if failed:
        EVENTS.labels(result="failed").inc(failed)
    if released:
        EVENTS.labels(result="released").inc(released)
    log = logger.error if failed else logger.warning
    log(
        "integrations.delivery_failed",
        flow="outbox",
        batch_id=batch_id,
        count=count,
        outcome=outcome,
        status=status,
        duration_ms=duration_ms,
        error=error,
        retried=retried,
        failed=failed,
        released=released,
        next_attempt_in=round(next_attempt_in, 3) if next_attempt_in is not None else None,
    )


class BreakerMetricsListener(pybreaker.CircuitBreakerListener):
    """Moves the state gauge and the transitions counter and logs each transition
    (``integrations.breaker_opened`` / ``_half_opened`` / ``_closed``, flow ``outbox``).
    Called by pybreaker under its lock: quick, never raises."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        new = new_state.name
        label = _STATE_LABEL[new]
        BREAKER_STATE.set(_STATE_VALUE[new])
        BREAKER_TRANSITIONS.labels(to=label).inc()
        event = {"open": "integrations.breaker_opened", "half_open": "integrations.breaker_half_opened"}.get(
            label, "integrations.breaker_closed"
        )
        (logger.warning if label == "open" else logger.info)(
            event,
            flow="outbox",
            from_state=_STATE_LABEL.get(old_state.name) if old_state is not None else None,
            failures=cb.fail_counter,
            reset_seconds=cb.reset_timeout,
        )


def breaker_reset() -> None:
    BREAKER_STATE.set(0)


def gauges_refresh() -> None:
    """Backlog by status and the oldest undelivered event's age, from the database; called
    at each ``/metrics`` scrape (``METRICS_REFRESH_HOOKS``). Two queries: a count by status
    over the undelivered rows (partial index) plus failed, and a MIN(occurred_at) over the
    undelivered rows."""
    from django.db.models import Count, Min

    from apps.core import clock
    from apps.core.models import OutboxEvent

    Status = OutboxEvent.Status
    counts = dict.fromkeys([Status.PENDING, Status.DELIVERING, Status.FAILED], 0)
    rows = (
        OutboxEvent.objects.filter(status__in=list(counts))
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    for status, n in rows:
        counts[status] = n
    for status, n in counts.items():
        BACKLOG.labels(status=str(status)).set(n)
    oldest = OutboxEvent.objects.filter(status__in=[Status.PENDING, Status.DELIVERING]).aggregate(
        m=Min("occurred_at")
    )["m"]
    OLDEST_PENDING_SECONDS.set(max(0.0, (clock.now() - oldest).total_seconds()) if oldest else 0.0)
