"""Shapes of the cart API (API.md "Cart"): output serializers for the OpenAPI document and
the functions that build the JSON from the selectors' plain data."""

from __future__ import annotations

from typing import Any

from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.carts.errors import PurchaseLimitExceeded, SkuUnavailable
from apps.carts.selectors import ISSUE_LIMIT, ISSUE_STOCK, CartLineView, CartTotals, CartView
from apps.carts.services import MergeNotice
from apps.catalog.api.views import MoneySerializer  # the one Money component of the schema
from apps.catalog.presenters import money_json
from apps.core.errors import ERROR_CATALOG
from apps.core.money import Money


class IssueSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="`cart.sku_unavailable` (not sold in this market; left out of the totals), "
        "`inventory.insufficient_stock` (fewer units available than in the cart; sold out: left "
        "out of the totals), `cart.purchase_limit_exceeded`."
    )
    message = serializers.CharField()


class CartItemSerializer(serializers.Serializer):
    sku = serializers.CharField()
    product_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = MoneySerializer(
        allow_null=True, help_text="Effective price now (sale applied); null when unavailable."
    )
    list_price = MoneySerializer(allow_null=True)
    line_total = MoneySerializer(allow_null=True)
    available = serializers.BooleanField(help_text="False: not counted in the totals (see `issue`).")
    max_per_order = serializers.IntegerField(allow_null=True)
    stock = serializers.IntegerField(
        help_text="Units available in the market now (a hint: a cart reserves nothing)."
    )
    issue = IssueSerializer(allow_null=True)


class CouponCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    code = serializers.CharField(allow_null=True, required=False, help_text="The coupon's id, when found.")
    reason = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="Invalid only: `coupon.not_found`, or why `coupon.not_applicable` (`min_order_amount`, "
        "`no_eligible_items`, `expired`, `used_up`, `not_usable`, `campaign_inactive`, `market`).",
    )
    discount = MoneySerializer(
        allow_null=True, required=False, help_text="Valid only: what the coupon takes off the goods."
    )
    message = serializers.CharField(
        allow_null=True, required=False, help_text="Invalid: the reason, localized."
    )


class TotalsSerializer(serializers.Serializer):
    subtotal = MoneySerializer(help_text="List prices x quantities of the available lines.")
    discount = MoneySerializer(
        help_text="Sale discounts (list - effective price) x quantities, plus a valid coupon's discount."
    )
    coupon = CouponCheckSerializer(allow_null=True, help_text="Only when `coupon_id` was given.")
    estimated_tax = MoneySerializer(
        help_text="On the goods after a valid coupon. KR: the VAT included in the prices (10/110, to the "
        "won), not added; US: sales tax added (to the cent)."
    )
    tax_included = serializers.BooleanField()
    shipping_fee = MoneySerializer()
    free_shipping_remaining = MoneySerializer(help_text="How much more makes shipping free.")
    free_shipping_threshold = MoneySerializer()
    total = MoneySerializer()


class CartSerializer(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True, help_text="Random, not sequential; null: no cart yet.")
    market = serializers.CharField()
    currency = serializers.CharField()
    item_count = serializers.IntegerField(help_text="Units in the cart.")
    items = CartItemSerializer(many=True)
    totals = TotalsSerializer()


class MergeNoticeSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    requested = serializers.IntegerField(help_text="Guest + member quantities summed.")
    quantity = serializers.IntegerField(help_text="What the member's cart holds now.")
    reason = serializers.CharField()
    limit = serializers.IntegerField(allow_null=True)
    available = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class MergeSerializer(serializers.Serializer):
    cart = CartSerializer()
    notices = MergeNoticeSerializer(many=True)


@extend_schema_field(OpenApiTypes.INT)
class QuantityField(serializers.Field):
    """Passes the raw JSON value on: ``services.parse_quantity`` decides, so ``0``, ``-1``,
    ``"2"``, ``1.5`` and ``10**30`` all answer ``cart.quantity_invalid``."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


# --- JSON -----------------------------------------------------------------------------------


def _money(value: Money | None, language: str) -> dict[str, Any] | None:
    return money_json(value, language) if value is not None else None


def _issue(line: CartLineView) -> dict[str, str] | None:
    if line.issue is None:
        return None
    if line.issue == ISSUE_LIMIT:
        message = PurchaseLimitExceeded(sku=line.sku, limit=line.max_per_order).detail
    elif line.issue == ISSUE_STOCK:
        message = ERROR_CATALOG[ISSUE_STOCK](skus=line.sku).detail
    else:
        message = SkuUnavailable(sku=line.name).detail
    return {"code": line.issue, "message": message}


def totals_json(totals: CartTotals, language: str | None = None) -> dict[str, Any]:
    language = language or translation.get_language() or "en"
    coupon = totals.coupon
    discount = totals.discount
    if totals.coupon_discount is not None:
        discount = discount + totals.coupon_discount
    return {
        "subtotal": money_json(totals.subtotal, language),
        "discount": money_json(discount, language),
        "coupon": None
        if coupon is None
        else {
            "valid": coupon.valid,
            "code": coupon.code,
            "reason": coupon.reason,
            "discount": None if coupon.discount is None else money_json(coupon.discount, language),
            "message": coupon.message,
        },
        "estimated_tax": money_json(totals.estimated_tax, language),
        "tax_included": totals.tax_included,
        "shipping_fee": money_json(totals.shipping_fee, language),
        "free_shipping_remaining": money_json(totals.free_shipping_remaining, language),
        "free_shipping_threshold": money_json(totals.free_shipping_threshold, language),
        "total": money_json(totals.total, language),
    }


def cart_json(view: CartView, totals: CartTotals) -> dict[str, Any]:
    language = translation.get_language() or "en"
    return {
        "id": view.id,
        "market": view.market.code,
        "currency": view.market.currency,
        "item_count": view.item_count,
        "items": [
            {
                "sku": line.sku,
                "product_id": line.product_id,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price, language),
                "list_price": _money(line.list_price, language),
                "line_total": _money(line.line_total, language),
                "available": line.available,
                "max_per_order": line.max_per_order,
                "stock": line.stock,
                "issue": _issue(line),
            }
            for line in view.lines
        ],
        "totals": totals_json(totals, language),
    }


def notice_json(notice: MergeNotice) -> dict[str, Any]:
    return {
        "sku": notice.sku,
        "name": notice.name,
        "requested": notice.requested,
        "quantity": notice.quantity,
        "reason": notice.reason,
        "limit": notice.limit,
        "available": notice.available,
        "message": notice.message,
    }
