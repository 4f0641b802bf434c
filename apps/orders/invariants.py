"""Order invariants checked by ``manage.py check_invariants`` (apps.core.invariants).

An order that was paid (``paid_at`` set: paid, fulfilled, refunded, or cancelled after
payment) has exactly one captured payment (``captured``, or ``refunded`` after capture) and
all of its stock committed; an order never paid has no captured payment; no order has two
live (pending or captured) payments; every paid order has its ``order.paid`` event while
events are retained. Refunds: an order's ``refunded_amount`` is the sum of its refunds and
of its lines' ``refunded_amount``, and every refund to the wallet that succeeded was
credited there, once, with its amount.
"""

from __future__ import annotations

from typing import Any

from django.db.models import (
    BigIntegerField,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Concat

from apps.core.invariants import Invariant, events_retained_since, uuid_text
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation
from apps.orders.models import Order, OrderLine, OrderPayment, OrderRefund

#: A payment that took the money (refunded keeps the record that it was captured).
TOOK_MONEY = [OrderPayment.Status.CAPTURED, OrderPayment.Status.REFUNDED]
LIVE = [OrderPayment.Status.PENDING, OrderPayment.Status.CAPTURED]


def _paid_not_one_capture() -> QuerySet[Any, Any]:
    captured = (
        OrderPayment.objects.filter(order_id=OuterRef("pk"), status__in=TOOK_MONEY)
        .values("order_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Order.objects.filter(paid_at__isnull=False)
        .annotate(captured=Coalesce(Subquery(captured, output_field=IntegerField()), Value(0)))
        .exclude(captured=1)
        .order_by("pk")
        .values_list("number", flat=True)
    )


def _unpaid_captured() -> QuerySet[Any, Any]:
    captured = OrderPayment.objects.filter(order_id=OuterRef("pk"), status=OrderPayment.Status.CAPTURED)
    return (
        Order.objects.filter(paid_at__isnull=True)
        .filter(Exists(captured))
        .order_by("pk")
        .values_list("number", flat=True)
    )


def _paid_stock_not_committed() -> QuerySet[Any, Any]:
    owner = Concat(Value("order:"), uuid_text("public_id"), output_field=CharField())
    rows = Reservation.objects.filter(owner=OuterRef("owner_text"))
    return (
        Order.objects.filter(paid_at__isnull=False)
        .annotate(owner_text=owner)
        .filter(
            ~Exists(rows.filter(status=Reservation.Status.COMMITTED))
            | Exists(rows.exclude(status=Reservation.Status.COMMITTED))
        )
        .order_by("pk")
        .values_list("number", flat=True)
    )


def _two_live_payments() -> QuerySet[Any, Any]:
    return (
        OrderPayment.objects.filter(status__in=LIVE)
        .values("order_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("order_id")
        .values_list("order_id", flat=True)
    )


def _paid_without_event() -> QuerySet[Any, Any]:
    event = OutboxEvent.objects.filter(
        aggregate_type="order", aggregate_id=OuterRef("public_text"), type="order.paid"
    )
    return (
        Order.objects.filter(paid_at__gte=events_retained_since())
        .annotate(public_text=uuid_text("public_id"))
        .exclude(Exists(event))
        .order_by("pk")
        .values_list("number", flat=True)
    )


def _summed(model: Any, field: str) -> Any:
    total = (
        model.objects.filter(order_id=OuterRef("pk")).values("order_id").annotate(t=Sum(field)).values("t")
    )
    return Coalesce(Subquery(total, output_field=BigIntegerField()), Value(0))


def _refunded_not_its_refunds() -> QuerySet[Any, Any]:
    return (
        Order.objects.annotate(refunds_total=_summed(OrderRefund, "amount"))
        .exclude(refunded_amount=F("refunds_total"))
        .order_by("pk")
        .values_list("number", flat=True)
    )


def _refunded_not_its_lines() -> QuerySet[Any, Any]:
    return (
        Order.objects.annotate(lines_refunded=_summed(OrderLine, "refunded_amount"))
        .exclude(refunded_amount=F("lines_refunded"))
        .order_by("pk")
        .values_list("number", flat=True)
    )


def _wallet_refund_not_credited() -> QuerySet[Any, Any]:
    return (
        OrderRefund.objects.filter(
            destination=OrderPayment.Method.WALLET, status=OrderRefund.Status.SUCCEEDED
        )
        .filter(Q(wallet_entry__isnull=True) | ~Q(wallet_entry__amount=F("amount")))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


INVARIANTS = [
    Invariant(
        "orders.paid_has_one_captured_payment",
        "every order that was paid has exactly one captured payment (order numbers)",
        _paid_not_one_capture,
    ),
    Invariant(
        "orders.unpaid_has_no_captured_payment",
        "an order never paid has no captured payment (order numbers)",
        _unpaid_captured,
    ),
    Invariant(
        "orders.paid_stock_committed",
        "every paid order's reservations are all committed, and it has some (order numbers)",
        _paid_stock_not_committed,
    ),
    Invariant(
        "orders.one_live_payment",
        "no order has more than one pending or captured payment (order ids)",
        _two_live_payments,
    ),
    Invariant(
        "orders.paid_has_event",
        "every paid order has its order.paid event (order numbers)",
        _paid_without_event,
    ),
    Invariant(
        "orders.refunded_is_its_refunds",
        "an order's refunded amount is the sum of its refunds (order numbers)",
        _refunded_not_its_refunds,
    ),
    Invariant(
        "orders.refunded_is_its_lines",
        "an order's refunded amount is the sum of its lines' refunded amounts (order numbers)",
        _refunded_not_its_lines,
    ),
    Invariant(
        "orders.wallet_refund_credited",
        "every succeeded refund to the wallet has its wallet entry of the same amount (refund ids)",
        _wallet_refund_not_credited,
    ),
]
