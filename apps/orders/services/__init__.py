"""Order use-cases (DESIGN.md §7 "Checkout", ADR 0009).

- ``placement``: place an order (validate, snapshot, allocate, reserve), idempotent by key.
- ``paying``: pay by wallet (one transaction) or by a saved method (provider, settle later).
- ``transitions``: fulfil, cancel, refund, expire, and the staff dispatcher.
"""

from apps.orders.services.common import order_shaped
from apps.orders.services.paying import (
    PaymentOutcome,
    order_pay_method,
    order_pay_wallet,
    order_payment_apply,
    order_payments_settle,
)
from apps.orders.services.placement import Placed, order_place, request_fingerprint
from apps.orders.services.transitions import (
    order_cancel,
    order_expire,
    order_refund,
    order_refund_send,
    order_refunds_send_pending,
    order_transition,
    orders_expire_due,
)

__all__ = [
    "PaymentOutcome",
    "Placed",
    "order_cancel",
    "order_expire",
    "order_pay_method",
    "order_pay_wallet",
    "order_payment_apply",
    "order_payments_settle",
    "order_place",
    "order_refund",
    "order_refund_send",
    "order_refunds_send_pending",
    "order_shaped",
    "order_transition",
    "orders_expire_due",
    "request_fingerprint",
]
