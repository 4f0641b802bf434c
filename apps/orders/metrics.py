"""Order signals for operators (issue 23 item 4): Prometheus series and their structlog events.

- ``joopang_orders_created_total{market}`` and ``joopang_orders_paid_total{market, method}``:
  the order completion rate is ``paid / created`` over a window, per market, in PromQL.
- ``joopang_order_payments_total{method, outcome}``: how payment attempts end.

The counters move when a use-case returns (after its transaction committed) or raises:
the services carry one decorator each, so nothing is counted for a rolled-back attempt
and the services' code is left as it is. Replays (an idempotency key answering what it
already did: ``created`` False) count nothing. A method payment the provider left pending
counts ``pending`` each time a request returns it so (a retry of the same key too) and
``paid`` (or ``declined``) once, when the settle task applies it. Label values are bounded: two markets, two methods, six outcomes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import structlog
from prometheus_client import Counter

from apps.inventory.errors import ReservationExpired
from apps.orders.errors import NotPayable
from apps.payments.errors import InsufficientBalance, PaymentDeclined, ProviderUnavailable

logger = structlog.get_logger("apps.orders")

P = ParamSpec("P")
R = TypeVar("R")

#: The ``method`` label (``OrderPayment.Method`` values).
WALLET = "wallet"
PAYMENT_METHOD = "payment_method"
#: The ``outcome`` label.
OUTCOMES = ("paid", "declined", "pending", "unavailable", "refunded", "expired")

ORDERS_CREATED = Counter(
    "joopang_orders_created_total",
    "Orders placed (a replayed key counts nothing), by market.",
    ["market"],
)
ORDERS_PAID = Counter(
    "joopang_orders_paid_total",
    "Orders paid (captured), by market and method. Completion rate: paid / created.",
    ["market", "method"],
)
PAYMENTS = Counter(
    "joopang_order_payments_total",
    "Order payment attempts by method (wallet, payment_method) and outcome: paid, declined "
    "(provider decline or wallet short), pending (provider answer not known yet), unavailable "
    "(provider unreachable), refunded (charged after the order could no longer take it, money "
    "returned), expired (the stock hold ran out and the units went).",
    ["method", "outcome"],
)


def _outcome_of_error(method: str, exc: BaseException) -> str | None:
    if isinstance(exc, PaymentDeclined | InsufficientBalance):
        return "declined"
    if isinstance(exc, ProviderUnavailable):
        return "unavailable"
    if isinstance(exc, ReservationExpired):
        return "expired"
    if method == PAYMENT_METHOD and isinstance(exc, NotPayable):
        # order_payment_apply raises it only after refunding a charge it could not capture.
        return "refunded"
    return None  # a refusal before any money moved (not payable, pending): not an outcome


def payment_outcome(method: str, *, outcome: str, market: str | None = None, **ids: Any) -> None:
    """Count one payment outcome; log it unless it is ``paid`` or ``pending`` (``orders.paid``
    and the request's own log line say those). ``ids``: the order or payment, for the log."""
    PAYMENTS.labels(method=method, outcome=outcome).inc()
    if outcome == "paid":
        ORDERS_PAID.labels(market=market or "", method=method).inc()
    elif outcome != "pending":
        logger.info("orders.payment_outcome", flow="payment", method=method, outcome=outcome, **ids)


def counts_payment(method: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator of a payment use-case returning a ``PaymentOutcome``: count how it ended.
    Outermost (above ``transaction.atomic``), so a payment counts once it committed."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                outcome = _outcome_of_error(method, exc)
                if outcome is not None:
                    ids: dict[str, Any] = {k: kwargs[k] for k in ("order_id", "payment_id") if k in kwargs}
                    payment_outcome(method, outcome=outcome, **ids)
                raise
            done: Any = result
            if done.created:
                status = done.payment.status
                outcome = {"captured": "paid", "pending": "pending"}.get(status)
                if outcome is not None:
                    order = done.order
                    payment_outcome(method, outcome=outcome, market=order.market_id, order=order.number)
            return result

        return wrapper

    return decorate


def counts_placement(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator of ``order_place``: count a new order (not a replayed key) by market."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        result = func(*args, **kwargs)
        placed: Any = result
        if placed.created:
            ORDERS_CREATED.labels(market=placed.order.market_id).inc()
        return result

    return wrapper
