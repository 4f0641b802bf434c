"""Signals from the payment provider client: Prometheus series and their structlog events.

A dashboard shows how calls end (``outcome``), how long they take, how often the read-only
status call was retried, and where the circuit breaker is; each breaker transition is also
one log event (``payments.breaker_opened``, ``payments.breaker_half_opened``,
``payments.breaker_closed``, flow ``payment``), so an alert and a log search tell the same
story. Label values are bounded: four operations, five outcomes, three states. Nothing here
ever sees a token, an account or a card number.
"""

from __future__ import annotations

from typing import Any, Literal

import pybreaker
import structlog
from prometheus_client import Counter, Gauge, Histogram

logger = structlog.get_logger("apps.payments")

Operation = Literal["approve_method", "charge", "refund", "status"]
Outcome = Literal["succeeded", "declined", "unavailable", "unknown", "rejected_open"]

CALLS = Counter(
    "joopang_payment_provider_calls_total",
    "Calls to the payment provider by operation and outcome (succeeded, declined, unavailable, "
    "unknown, rejected_open).",
    ["operation", "outcome"],
)
CALL_SECONDS = Histogram(
    "joopang_payment_provider_call_seconds",
    "Duration of one HTTP request to the payment provider (each attempt of a retried call).",
    ["operation"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RETRIES = Counter(
    "joopang_payment_provider_retries_total",
    "Retries of an idempotent provider call (only status is ever retried).",
    ["operation"],
)
BREAKER_STATE = Gauge(
    "joopang_payment_provider_breaker_state",
    "Circuit breaker of the payment provider client: 0 closed, 1 half-open, 2 open.",
    multiprocess_mode="mostrecent",
)
BREAKER_TRANSITIONS = Counter(
    "joopang_payment_provider_breaker_transitions_total",
    "Transitions of the payment provider circuit breaker, by the state entered.",
    ["to"],
)

_STATE_VALUE = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}
_STATE_LABEL = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_HALF_OPEN: "half_open",
    pybreaker.STATE_OPEN: "open",
}
_STATE_EVENT = {
    pybreaker.STATE_CLOSED: "payments.breaker_closed",
    pybreaker.STATE_HALF_OPEN: "payments.breaker_half_opened",
    pybreaker.STATE_OPEN: "payments.breaker_opened",
}


def call_finished(*, operation: Operation, outcome: Outcome) -> None:
    CALLS.labels(operation=operation, outcome=outcome).inc()


def call_timed(*, operation: Operation, seconds: float) -> None:
    CALL_SECONDS.labels(operation=operation).observe(seconds)


def call_retried(*, operation: Operation, attempt: int, wait_seconds: float, error: str) -> None:
    RETRIES.labels(operation=operation).inc()
    logger.info(
        "payments.provider_retry",
        flow="payment",
        operation=operation,
        attempt=attempt,
        wait_seconds=round(wait_seconds, 3),
        error=error,
    )


def call_failed(*, operation: Operation, outcome: Outcome, reference: str, error: str) -> None:
    """One warning per failed call; ``reference`` is our own idempotency key, never a token."""
    logger.warning(
        "payments.provider_call_failed",
        flow="payment",
        operation=operation,
        outcome=outcome,
        reference=reference,
        error=error,
    )


def breaker_reset() -> None:
    """A new breaker starts closed (a new provider instance, ``reset_provider``)."""
    BREAKER_STATE.set(0)


class BreakerMetricsListener(pybreaker.CircuitBreakerListener):
    """Moves the state gauge and the transitions counter and logs one event per transition.
    pybreaker calls it under the breaker's lock: it must stay quick and never raise."""

    def __init__(self, *, provider: str) -> None:
        self.provider = provider

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        new = new_state.name
        old = old_state.name if old_state is not None else None
        BREAKER_STATE.set(_STATE_VALUE[new])
        BREAKER_TRANSITIONS.labels(to=_STATE_LABEL[new]).inc()
        log = logger.warning if new == pybreaker.STATE_OPEN else logger.info
        log(
            _STATE_EVENT[new],
            flow="payment",
            provider=self.provider,
            from_state=_STATE_LABEL.get(old, old) if old else None,
            failures=cb.fail_counter,
            reset_seconds=cb.reset_timeout,
        )
