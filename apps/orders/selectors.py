"""Order reads shaped for the API, the storefront pages, the back office and the receipt."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.orders.models import Order, OrderLine, OrderPayment, OrderRefund, OrderStatusChange
from apps.orders.services.common import EXPIRED

#: Reasons the system writes into the history (stored in English), shown translated.
SYSTEM_REASONS = {EXPIRED: _("Not paid in time"), "Order cancelled": _("Order cancelled")}


def reason_display(reason: str) -> str:
    text = SYSTEM_REASONS.get(reason)
    return str(text) if text is not None else reason


def _detail_qs() -> QuerySet[Order]:
    return Order.objects.select_related("market", "user").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("position")),
        Prefetch("status_history", queryset=OrderStatusChange.objects.order_by("created_at", "pk")),
        Prefetch(
            "payments",
            queryset=OrderPayment.objects.select_related("payment_method").order_by("-pk"),
        ),
        Prefetch("refunds", queryset=OrderRefund.objects.order_by("created_at", "pk")),
    )


def order_list(*, user: User, status: str | None = None) -> QuerySet[Order]:
    """The member's orders, newest first, with everything a list row or detail shows."""
    qs = _detail_qs().filter(user=user)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def order_get(*, user: User, public_id: Any) -> Order | None:
    return _detail_qs().filter(user=user, public_id=public_id).first()


def staff_order_list(*, markets: list[str], search: str | None = None) -> QuerySet[Order]:
    """Orders of the staff member's markets; ``search`` matches the number or the email."""
    qs = _detail_qs().filter(market_id__in=markets)
    if search:
        qs = qs.filter(Q(number__iexact=search.strip()) | Q(user__email__iexact=search.strip()))
    return qs.order_by("-created_at", "-pk")


def staff_order_get(*, markets: list[str], public_id: Any) -> Order | None:
    return _detail_qs().filter(market_id__in=markets, public_id=public_id).first()


def captured_payment(order: Order) -> OrderPayment | None:
    """From the prefetched payments: the one that paid (captured or later refunded)."""
    for payment in order.payments.all():
        if payment.status in (OrderPayment.Status.CAPTURED, OrderPayment.Status.REFUNDED):
            return payment
    return None


@dataclass(frozen=True)
class Receipt:
    """A KR e-receipt (전자영수증): the seller's business details, the buyer, the items and
    the VAT breakdown of the amount paid. Amounts in minor units of ``currency``."""

    number: str
    issued_at: Any
    business: dict[str, str]
    buyer_name: str
    lines: list[dict[str, Any]]
    #: Each line's goods (unit price x quantity, less its coupon share); shipping apart, so
    #: lines + shipping_fee (+ tax when added) = total.
    shipping_fee: int
    supply_amount: int
    vat: int
    total: int
    currency: str
    payment_method: str


def receipt_required(order: Order) -> bool:
    return bool(order.market.e_receipt_required) and order.paid_at is not None


def order_receipt(order: Order) -> Receipt | None:
    """The e-receipt of a paid order whose market's policy asks for one, else ``None``.
    VAT is the part of the total the tax rate includes (10/110 in KR), rounded half up;
    the supply amount is the rest, so the two always add up to the total."""
    if not receipt_required(order):
        return None
    rate = Decimal(order.market.tax_rate)
    vat = int((Decimal(order.total) * rate / (1 + rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    payment = captured_payment(order)
    business = dict(getattr(settings, "BUSINESS_DETAILS", {}).get(order.market_id, {}))
    return Receipt(
        number=f"R-{order.number}",
        issued_at=order.paid_at,
        business=business,
        buyer_name=order.user.name,
        lines=[
            {
                "name_ko": line.name_ko,
                "name_en": line.name_en,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount": line.unit_price * line.quantity - line.coupon_share,
            }
            for line in order.lines.all()
        ],
        shipping_fee=order.shipping_fee,
        supply_amount=order.total - vat,
        vat=vat,
        total=order.total,
        currency=order.currency,
        payment_method=payment.method if payment is not None else "",
    )
