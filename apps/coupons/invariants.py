"""Coupon invariants checked by ``manage.py check_invariants`` (apps.core.invariants):
a campaign never issues more than its quantity, its ``issued_count`` is the number of its
coupons, and no member holds more of a campaign's coupons than its per-member limit."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, IntegerField, Max, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.core.invariants import Invariant
from apps.coupons.models import Campaign, Coupon


def _over_issued() -> QuerySet[Any, Any]:
    return (
        Campaign.objects.filter(total_quantity__isnull=False, issued_count__gt=F("total_quantity"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _count_off_coupons() -> QuerySet[Any, Any]:
    coupons = (
        Coupon.objects.filter(campaign_id=OuterRef("pk"))
        .values("campaign_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Campaign.objects.annotate(
            coupon_rows=Coalesce(Subquery(coupons, output_field=IntegerField()), Value(0))
        )
        .exclude(issued_count=F("coupon_rows"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _over_member_limit() -> QuerySet[Any, Any]:
    return (
        Coupon.objects.values("campaign_id", "user_id")
        .annotate(n=Count("pk"), limit=Max("campaign__per_user_limit"))
        .filter(n__gt=F("limit"))
        .order_by("campaign_id", "user_id")
        .values_list("campaign_id", "user_id")
    )


INVARIANTS = [
    Invariant(
        "coupons.issued_within_quantity",
        "issued_count <= total_quantity (campaign ids)",
        _over_issued,
    ),
    Invariant(
        "coupons.issued_count_matches_coupons",
        "issued_count = number of the campaign's coupons (campaign ids)",
        _count_off_coupons,
    ),
    Invariant(
        "coupons.per_member_limit",
        "no member holds more of a campaign's coupons than per_user_limit (campaign:member ids)",
        _over_member_limit,
    ),
]
