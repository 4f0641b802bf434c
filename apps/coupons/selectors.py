"""Coupon reads: the coupon zone, my coupons, a campaign's live stats, the cart pre-check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from apps.accounts.models import User
from apps.accounts.selectors import staff_markets
from apps.core import clock
from apps.coupons import metrics
from apps.coupons.models import Campaign, Coupon, CouponUse
from apps.markets.models import Market


def campaigns_claimable(*, market: Market, now: dt.datetime | None = None) -> QuerySet[Campaign]:
    """Campaigns of ``market`` that are active and not over (starting soon included, for the
    countdown), soonest ending first."""
    now = now or clock.now()
    return (
        Campaign.objects.filter(status=Campaign.Status.ACTIVE, ends_at__gt=now, markets=market)
        .order_by("ends_at", "pk")
        .distinct()
    )


def claimed_counts(*, user: User, campaign_ids: list[int]) -> dict[int, int]:
    """How many coupons of each of these campaigns the member holds (any status), one query."""
    if not campaign_ids:
        return {}
    rows = (
        Coupon.objects.filter(user=user, campaign_id__in=campaign_ids)
        .values("campaign_id")
        .annotate(n=Count("pk"))
        .values_list("campaign_id", "n")
    )
    return dict(rows)


def campaign_list(*, status: str | None = None) -> QuerySet[Campaign]:
    """Every campaign (back office), newest first, with its markets and eligibility lists."""
    qs = Campaign.objects.prefetch_related("markets", "categories", "products", "excluded_products")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-pk")


def campaign_get(*, campaign_id: int) -> Campaign | None:
    return campaign_list().filter(pk=campaign_id).first()


def coupon_list(*, user: User, status: str | None = None) -> QuerySet[Coupon]:
    qs = Coupon.objects.filter(user=user).select_related("campaign")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-claimed_at", "-pk")


def usable_coupons(*, user: User, market: Market, now: dt.datetime | None = None) -> QuerySet[Coupon]:
    """The member's coupons they could apply at checkout in ``market`` now."""
    now = now or clock.now()
    return (
        Coupon.objects.filter(
            user=user,
            status=Coupon.Status.ISSUED,
            uses_left__gte=1,
            expires_at__gt=now,
            campaign__markets=market,
            campaign__status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED],
            campaign__ends_at__gt=now,
        )
        .select_related("campaign")
        .order_by("expires_at", "pk")
        .distinct()
    )


@dataclass(frozen=True)
class CampaignStats:
    total: int | None
    issued: int
    remaining: int | None
    used: int
    usage_rate: float
    claims_rejected: dict[str, int]
    revoked: int


def campaign_stats(campaign: Campaign) -> CampaignStats:
    counts = Coupon.objects.filter(campaign=campaign).aggregate(
        used=Count("pk", filter=Q(status=Coupon.Status.USED) | Q(used_at__isnull=False)),
        revoked=Count("pk", filter=Q(status=Coupon.Status.REVOKED)),
    )
    issued = campaign.issued_count
    used = int(counts["used"] or 0)
    return CampaignStats(
        total=campaign.total_quantity,
        issued=issued,
        remaining=campaign.remaining,
        used=used,
        usage_rate=round(used / issued, 4) if issued else 0.0,
        claims_rejected=metrics.rejected_counts(campaign.pk),
        revoked=int(counts["revoked"] or 0),
    )


def coupon_uses(*, coupon: Coupon) -> QuerySet[CouponUse]:
    return CouponUse.objects.filter(coupon=coupon).order_by("-created_at", "-pk")


def products_with_campaigns(
    *, product_ids: list[int], market: Market, now: dt.datetime | None = None
) -> set[int]:
    """Which of these products a running campaign of ``market`` covers (the catalog's
    ``coupon_applicable`` flag). A campaign without categories or products covers all."""
    now = now or clock.now()
    campaigns = list(
        Campaign.objects.filter(
            status=Campaign.Status.ACTIVE, markets=market, starts_at__lte=now, ends_at__gt=now
        ).prefetch_related("categories", "products", "excluded_products")
    )
    if not campaigns or not product_ids:
        return set()
    from apps.catalog.models import Category, Product

    categories = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "category_id"))
    parents = dict(Category.objects.values_list("pk", "parent_id"))

    def ancestry(category_id: Any) -> set[int]:
        out = set()
        while category_id is not None and category_id not in out:
            out.add(category_id)
            category_id = parents.get(category_id)
        return out

    covered: set[int] = set()
    for campaign in campaigns:
        chosen_categories = {c.pk for c in campaign.categories.all()}
        chosen_products = {p.pk for p in campaign.products.all()}
        excluded = {p.pk for p in campaign.excluded_products.all()}
        for pk in product_ids:
            if pk in excluded:
                continue
            if (
                (not chosen_categories and not chosen_products)
                or pk in chosen_products
                or ancestry(categories.get(pk)) & chosen_categories
            ):
                covered.add(pk)
    return covered


# --- Market scope (back office: admin and the staff API) ----------------------------
def campaigns_in_scope(queryset: QuerySet[Any], user: Any, *, campaign: str = "pk") -> QuerySet[Any]:
    """``queryset`` limited to rows whose campaign (the lookup path ``campaign`` to its id)
    runs in one of the staff member's markets; unchanged for staff without a scope. An
    ``EXISTS`` on the campaign's markets: no duplicate rows, no ``DISTINCT``."""
    markets = staff_markets(user)
    if markets is None:
        return queryset
    runs_here = Campaign.markets.through.objects.filter(
        campaign_id=OuterRef(campaign), market_id__in=sorted(markets)
    )
    return queryset.filter(Exists(runs_here))


def coupons_in_scope(queryset: QuerySet[Any], user: Any, *, coupon: str = "") -> QuerySet[Any]:
    """Coupons (or rows of a coupon, ``coupon`` the lookup path to it with its ``__``) of a
    campaign in the staff member's markets held by a member of one of them: the coupon
    names both, so both must be theirs."""
    markets = staff_markets(user)
    if markets is None:
        return queryset
    scoped = queryset.filter(**{f"{coupon}user__market__in": sorted(markets)})
    return campaigns_in_scope(scoped, user, campaign=f"{coupon}campaign_id")


def campaign_within_scope(user: Any, campaign: Campaign) -> bool:
    """Whether every market the campaign runs in is one of the staff member's: only then
    may they change it, move its status or revoke its coupons."""
    markets = staff_markets(user)
    return markets is None or {m.code for m in campaign.markets.all()} <= markets
