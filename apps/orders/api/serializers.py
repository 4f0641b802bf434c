"""Shapes of the orders API (API.md "Orders and payments"): output serializers for the
OpenAPI document and the functions that build the JSON from the selectors' prefetched
orders (no query here: everything shown was prefetched by ``selectors._detail_qs``).

Money is the API's money object (``{amount, currency, display}``); names follow the
request language; system reasons in the history are translated (``reason_display``).
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from rest_framework import serializers

from apps.catalog.api.views import MoneySerializer  # the one Money component of the schema
from apps.catalog.presenters import money_json
from apps.core.money import Money
from apps.orders import selectors
from apps.orders.models import Order, OrderLine, OrderPayment, OrderRefund, OrderStatusChange

_DATETIME = serializers.DateTimeField()


def _language() -> str:
    return translation.get_language() or "en"


def _one_of(values: list[str]) -> str:
    return "One of " + ", ".join(f"`{value}`" for value in values) + "."


def _when(value: Any) -> str | None:
    return _DATETIME.to_representation(value) if value is not None else None


# --- schema ---------------------------------------------------------------------------------


class ShippingAddressSerializer(serializers.Serializer):
    recipient = serializers.CharField()
    line1 = serializers.CharField()
    line2 = serializers.CharField(required=False, allow_blank=True)
    city = serializers.CharField()
    region = serializers.CharField(required=False, allow_blank=True)
    postal_code = serializers.CharField()
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2, e.g. `KR`.")


class OrderLineSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="1-based; refunds name lines by it.")
    sku = serializers.CharField()
    product_id = serializers.IntegerField()
    name = serializers.CharField(help_text="The name when ordered, in the request language.")
    quantity = serializers.IntegerField()
    unit_price = MoneySerializer(help_text="Price paid per unit (sale applied).")
    list_price = MoneySerializer()
    discount = MoneySerializer(help_text="This line's share of the coupon discount.")
    tax = MoneySerializer(help_text="This line's share of the tax (included in the prices in KR).")
    shipping = MoneySerializer(help_text="This line's share of the shipping fee.")
    line_total = MoneySerializer(help_text="What this line costs; the lines add up to the total.")
    refunded_quantity = serializers.IntegerField()
    refunded_amount = MoneySerializer()


class OrderPaymentSummarySerializer(serializers.Serializer):
    method = serializers.CharField(help_text=_one_of(OrderPayment.Method.values))
    status = serializers.CharField(help_text=_one_of(OrderPayment.Status.values))
    amount = MoneySerializer()
    captured_at = serializers.DateTimeField(allow_null=True)


class RefundLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The line's `position`.")
    quantity = serializers.IntegerField()
    amount = MoneySerializer(allow_null=True, help_text="Null for a cancellation (the whole line).")


class OrderRefundSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    amount = MoneySerializer()
    destination = serializers.CharField(help_text="Where the money went back: `wallet` or `payment_method`.")
    status = serializers.CharField(
        help_text="`succeeded`, or `pending`: a refund to a saved method not yet confirmed by the provider."
    )
    lines = RefundLineSerializer(many=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class StatusChangeSerializer(serializers.Serializer):
    from_status = serializers.CharField(allow_null=True, help_text="Null for the order's creation.")
    to_status = serializers.CharField()
    actor_kind = serializers.CharField(help_text="`member`, `staff` or `system`.")
    reason = serializers.CharField(help_text="In the request language for reasons the system wrote.")
    at = serializers.DateTimeField()


class ReceiptLineSerializer(serializers.Serializer):
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = MoneySerializer()
    amount = MoneySerializer()


class ReceiptSerializer(serializers.Serializer):
    number = serializers.CharField()
    issued_at = serializers.DateTimeField()
    business = serializers.DictField(
        child=serializers.CharField(), help_text="The seller: name, registration number, address..."
    )
    buyer_name = serializers.CharField()
    lines = ReceiptLineSerializer(many=True)
    shipping_fee = MoneySerializer(help_text="Shipping, apart from the lines' goods.")
    supply_amount = MoneySerializer(help_text="Total minus VAT.")
    vat = MoneySerializer(help_text="The VAT included in the total (10/110 in KR, to the won).")
    total = MoneySerializer()
    payment_method = serializers.CharField()


class OrderSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Random, not sequential.")
    number = serializers.CharField(help_text="For people, e.g. `KR-20261130-000123`.")
    status = serializers.CharField(help_text=_one_of(Order.Status.values))
    market = serializers.CharField()
    currency = serializers.CharField()
    lines = OrderLineSerializer(many=True)
    subtotal = MoneySerializer(help_text="List prices x quantities.")
    discount = MoneySerializer(help_text="Sale discounts plus the coupon discount.")
    tax = MoneySerializer()
    tax_included = serializers.BooleanField(help_text="True (KR): the tax is part of the prices.")
    shipping_fee = MoneySerializer()
    total = MoneySerializer()
    refunded_amount = MoneySerializer()
    coupon = serializers.CharField(allow_null=True, help_text="The coupon applied, if any.")
    payment = OrderPaymentSummarySerializer(allow_null=True)
    refunds = OrderRefundSummarySerializer(many=True)
    shipping_address = ShippingAddressSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(help_text="Unpaid by then, the order is cancelled.")
    fulfilled_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    status_history = StatusChangeSerializer(many=True)
    receipt = ReceiptSerializer(allow_null=True, help_text="KR e-receipt of a paid order; else null.")


class OrderListSerializer(serializers.Serializer):
    results = OrderSerializer(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class PaymentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    method = serializers.CharField(help_text=_one_of(OrderPayment.Method.values))
    status = serializers.CharField(
        help_text="`captured` (201), or `pending` (202): the provider's answer is awaited."
    )
    amount = MoneySerializer()
    captured_at = serializers.DateTimeField(allow_null=True)
    order = OrderSerializer()


class RefundSerializer(OrderRefundSummarySerializer):
    order = OrderSerializer()


# --- JSON -----------------------------------------------------------------------------------


def _line_json(line: OrderLine, currency: str, language: str) -> dict[str, Any]:
    def money(amount: int) -> dict[str, Any]:
        return money_json(Money(amount, currency), language)

    return {
        "position": line.position,
        "sku": line.sku_code,
        "product_id": line.product_id_snapshot,
        "name": line.name(language),
        "quantity": line.quantity,
        "unit_price": money(line.unit_price),
        "list_price": money(line.list_price),
        "discount": money(line.coupon_share),
        "tax": money(line.tax_share),
        "shipping": money(line.shipping_share),
        "line_total": money(line.line_total),
        "refunded_quantity": line.refunded_quantity,
        "refunded_amount": money(line.refunded_amount),
    }


def shown_payment(order: Order) -> OrderPayment | None:
    """The payment an order shows: the one that paid, else one still awaited (from the
    prefetched payments; a failed attempt is not shown)."""
    paid = selectors.captured_payment(order)
    if paid is not None:
        return paid
    for payment in order.payments.all():
        if payment.status == OrderPayment.Status.PENDING:
            return payment
    return None


def payment_summary_json(payment: OrderPayment, language: str) -> dict[str, Any]:
    return {
        "method": payment.method,
        "status": payment.status,
        "amount": money_json(Money(payment.amount, payment.currency), language),
        "captured_at": _when(payment.captured_at),
    }


def refund_summary_json(refund: OrderRefund, language: str) -> dict[str, Any]:
    return {
        "id": str(refund.public_id),
        "amount": money_json(Money(refund.amount, refund.currency), language),
        "destination": refund.destination,
        "status": refund.status,
        "lines": [
            {
                "line": item.get("line"),
                "quantity": item.get("quantity"),
                "amount": money_json(Money(item["amount"], refund.currency), language)
                if item.get("amount") is not None
                else None,
            }
            for item in refund.lines or []
        ],
        "reason": selectors.reason_display(refund.reason),
        "created_at": _when(refund.created_at),
    }


def _history_json(change: OrderStatusChange) -> dict[str, Any]:
    return {
        "from_status": change.from_status or None,
        "to_status": change.to_status,
        "actor_kind": change.actor_kind,
        "reason": selectors.reason_display(change.reason),
        "at": _when(change.created_at),
    }


def receipt_json(order: Order, language: str) -> dict[str, Any] | None:
    receipt = selectors.order_receipt(order)
    if receipt is None:
        return None

    def money(amount: int) -> dict[str, Any]:
        return money_json(Money(amount, receipt.currency), language)

    korean = language.startswith("ko")
    return {
        "number": receipt.number,
        "issued_at": _when(receipt.issued_at),
        "business": {key: str(value) for key, value in receipt.business.items()},
        "buyer_name": receipt.buyer_name,
        "lines": [
            {
                "name": line["name_ko"] if korean else line["name_en"],
                "quantity": line["quantity"],
                "unit_price": money(line["unit_price"]),
                "amount": money(line["amount"]),
            }
            for line in receipt.lines
        ],
        "shipping_fee": money(receipt.shipping_fee),
        "supply_amount": money(receipt.supply_amount),
        "vat": money(receipt.vat),
        "total": money(receipt.total),
        "payment_method": receipt.payment_method,
    }


def order_json(order: Order) -> dict[str, Any]:
    """An order from ``selectors.order_list``/``order_get`` (lines, history, payments and
    refunds prefetched; market and user joined)."""
    language = _language()

    def money(amount: int) -> dict[str, Any]:
        return money_json(Money(amount, order.currency), language)

    payment = shown_payment(order)
    return {
        "id": str(order.public_id),
        "number": order.number,
        "status": order.status,
        "market": order.market_id,
        "currency": order.currency,
        "lines": [_line_json(line, order.currency, language) for line in order.lines.all()],
        "subtotal": money(order.subtotal),
        "discount": money(order.sale_discount + order.coupon_discount),
        "tax": money(order.tax),
        "tax_included": order.tax_included,
        "shipping_fee": money(order.shipping_fee),
        "total": money(order.total),
        "refunded_amount": money(order.refunded_amount),
        "coupon": order.coupon_code or None,
        "payment": payment_summary_json(payment, language) if payment is not None else None,
        "refunds": [refund_summary_json(refund, language) for refund in order.refunds.all()],
        "shipping_address": dict(order.shipping_address) if order.shipping_address else None,
        "created_at": _when(order.created_at),
        "paid_at": _when(order.paid_at),
        "expires_at": _when(order.expires_at),
        "fulfilled_at": _when(order.fulfilled_at),
        "cancelled_at": _when(order.cancelled_at),
        "status_history": [_history_json(change) for change in order.status_history.all()],
        "receipt": receipt_json(order, language),
    }


def payment_json(payment: OrderPayment, order: Order) -> dict[str, Any]:
    language = _language()
    return {
        "id": str(payment.public_id),
        **payment_summary_json(payment, language),
        "order": order_json(order),
    }


def refund_json(refund: OrderRefund, order: Order) -> dict[str, Any]:
    return {**refund_summary_json(refund, _language()), "order": order_json(order)}
