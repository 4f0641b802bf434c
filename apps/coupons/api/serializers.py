"""Shapes of the coupons API (API.md "Coupons"): output serializers for the OpenAPI document
and the functions that build the JSON from models (no queries here).

Amounts of a campaign are in its ``currency``; a percent campaign without a cap or minimum
has none (it may run in several markets) and is shown in the request market's currency.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from rest_framework import serializers

from apps.catalog.api.views import MoneySerializer  # the one Money component of the schema
from apps.catalog.presenters import money_json
from apps.core.formatting import format_money
from apps.core.money import Money
from apps.coupons.models import Campaign, Coupon
from apps.coupons.selectors import CampaignStats
from apps.markets.models import Market

_DATETIME = serializers.DateTimeField()


def language() -> str:
    return translation.get_language() or "en"


def _when(value: dt.datetime | None) -> str | None:
    return _DATETIME.to_representation(value) if value is not None else None


def _currency(campaign: Campaign, market: Market) -> str:
    return campaign.currency or market.currency


# --- discount --------------------------------------------------------------------------------


class DiscountSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="`fixed` or `percent`.")
    value = serializers.IntegerField(
        help_text="`percent`: the percentage (1-100). `fixed`: the amount off in minor units."
    )
    max = MoneySerializer(
        allow_null=True, help_text="`percent` only: the most one order saves; null: no cap."
    )
    display = serializers.CharField(help_text='In the request language, e.g. "10% (max ₩5,000)" or "₩3,000".')


def discount_display(campaign: Campaign, currency: str, lang: str) -> str:
    if campaign.discount_type == Campaign.DiscountType.FIXED:
        return format_money(Money(campaign.discount_value, currency), lang)
    percent = f"{campaign.discount_value}%"
    if campaign.max_discount is None:
        return percent
    cap = format_money(Money(campaign.max_discount, currency), lang)
    return _("%(percent)s (max %(max)s)") % {"percent": percent, "max": cap}


def discount_json(campaign: Campaign, *, market: Market, lang: str) -> dict[str, Any]:
    currency = _currency(campaign, market)
    return {
        "type": campaign.discount_type,
        "value": campaign.discount_value,
        "max": money_json(Money(campaign.max_discount, currency), lang)
        if campaign.max_discount is not None
        else None,
        "display": discount_display(campaign, currency, lang),
    }


# --- the coupon zone -------------------------------------------------------------------------


class ClaimableCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="In the request language.")
    discount = DiscountSerializer()
    min_order_amount = MoneySerializer(help_text="The order must reach this (eligible items); 0: any.")
    remaining = serializers.IntegerField(allow_null=True, help_text="Coupons left to claim; null: unlimited.")
    starts_at = serializers.DateTimeField(help_text="Claiming opens (a campaign starting soon is listed).")
    valid_until = serializers.DateTimeField(help_text="The campaign ends; no claim or use after it.")
    per_user_limit = serializers.IntegerField(help_text="Coupons of this campaign one member may claim.")
    claimed_by_me = serializers.IntegerField(
        help_text="Coupons of it the caller holds (any status); 0 for guests."
    )


class ClaimableCampaignListSerializer(serializers.Serializer):
    results = ClaimableCampaignSerializer(many=True)


def claimable_campaign_json(
    campaign: Campaign, *, market: Market, lang: str, claimed_by_me: int
) -> dict[str, Any]:
    return {
        "id": campaign.pk,
        "name": campaign.name(lang),
        "discount": discount_json(campaign, market=market, lang=lang),
        "min_order_amount": money_json(Money(campaign.min_order_amount, _currency(campaign, market)), lang),
        "remaining": campaign.remaining,
        "starts_at": _when(campaign.starts_at),
        "valid_until": _when(campaign.ends_at),
        "per_user_limit": campaign.per_user_limit,
        "claimed_by_me": claimed_by_me,
    }


# --- my coupons ------------------------------------------------------------------------------


class CouponCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="In the request language.")


class CouponSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The coupon (`coupon_id` at checkout).")
    campaign = CouponCampaignSerializer()
    status = serializers.ChoiceField(
        choices=Coupon.Status.values,
        help_text="`issued`: ready to use; `reserved`: held by an unpaid order; `used`; `expired`; "
        "`revoked`: taken back by the shop.",
    )
    uses_left = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    discount = DiscountSerializer()
    claimed_at = serializers.DateTimeField()


class CouponListSerializer(serializers.Serializer):
    results = CouponSerializer(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


def coupon_json(coupon: Coupon, *, market: Market, lang: str) -> dict[str, Any]:
    campaign = coupon.campaign
    return {
        "id": str(coupon.public_id),
        "campaign": {"id": campaign.pk, "name": campaign.name(lang)},
        "status": coupon.status,
        "uses_left": coupon.uses_left,
        "expires_at": _when(coupon.expires_at),
        "discount": discount_json(campaign, market=market, lang=lang),
        "claimed_at": _when(coupon.claimed_at),
    }


# --- back office -----------------------------------------------------------------------------


class AdminCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name_ko = serializers.CharField()
    name_en = serializers.CharField()
    discount_type = serializers.ChoiceField(choices=Campaign.DiscountType.values)
    discount_value = serializers.IntegerField(help_text="Percent: 1-100. Fixed: minor units of `currency`.")
    max_discount = serializers.IntegerField(allow_null=True, help_text="Percent only: the cap, minor units.")
    min_order_amount = serializers.IntegerField(help_text="Minor units of `currency`; 0: no minimum.")
    currency = serializers.CharField(
        allow_blank=True, help_text='Of every amount above; "" for a percent campaign without amounts.'
    )
    discount = DiscountSerializer(help_text="As members see it, in the request language.")
    markets = serializers.ListField(child=serializers.CharField(), help_text="Market codes.")
    categories = serializers.ListField(child=serializers.IntegerField(), help_text="Eligible category ids.")
    products = serializers.ListField(child=serializers.IntegerField(), help_text="Eligible product ids.")
    excluded_products = serializers.ListField(child=serializers.IntegerField())
    total_quantity = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
    issued = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True)
    per_user_limit = serializers.IntegerField()
    uses_per_coupon = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    valid_days = serializers.IntegerField(
        allow_null=True, help_text="A coupon is valid this many days after its claim; null: until `ends_at`."
    )
    status = serializers.CharField(help_text="`draft`, `active`, `paused` or `ended`.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AdminCampaignListSerializer(serializers.Serializer):
    results = AdminCampaignSerializer(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


def campaign_data(campaign: Campaign) -> dict[str, Any]:
    """The campaign as ``campaign_update`` data (python values); M2M from the prefetch."""
    return {
        "name_ko": campaign.name_ko,
        "name_en": campaign.name_en,
        "discount_type": campaign.discount_type,
        "discount_value": campaign.discount_value,
        "max_discount": campaign.max_discount,
        "min_order_amount": campaign.min_order_amount,
        "markets": sorted(m.code for m in campaign.markets.all()),
        "categories": sorted(c.pk for c in campaign.categories.all()),
        "products": sorted(p.pk for p in campaign.products.all()),
        "excluded_products": sorted(p.pk for p in campaign.excluded_products.all()),
        "total_quantity": campaign.total_quantity,
        "per_user_limit": campaign.per_user_limit,
        "uses_per_coupon": campaign.uses_per_coupon,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "valid_days": campaign.valid_days,
    }


def admin_campaign_json(campaign: Campaign, *, market: Market, lang: str) -> dict[str, Any]:
    data = campaign_data(campaign)
    return {
        "id": campaign.pk,
        **{k: v for k, v in data.items() if k not in ("starts_at", "ends_at")},
        "currency": campaign.currency,
        "discount": discount_json(campaign, market=market, lang=lang),
        "issued": campaign.issued_count,
        "remaining": campaign.remaining,
        "starts_at": _when(campaign.starts_at),
        "ends_at": _when(campaign.ends_at),
        "status": campaign.status,
        "created_at": _when(campaign.created_at),
        "updated_at": _when(campaign.updated_at),
    }


class CampaignStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
    issued = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
    used = serializers.IntegerField(help_text="Coupons used at least once.")
    usage_rate = serializers.FloatField(help_text="used / issued, 4 decimals; 0 before any claim.")
    claims_rejected = serializers.DictField(
        child=serializers.IntegerField(), help_text="Refused claims by error code, e.g. `coupon.sold_out`."
    )
    revoked = serializers.IntegerField()


def stats_json(stats: CampaignStats) -> dict[str, Any]:
    return {
        "total": stats.total,
        "issued": stats.issued,
        "remaining": stats.remaining,
        "used": stats.used,
        "usage_rate": stats.usage_rate,
        "claims_rejected": dict(sorted(stats.claims_rejected.items())),
        "revoked": stats.revoked,
    }
