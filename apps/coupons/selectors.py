"""Coupon reads: the coupon zone, my coupons, a campaign's live stats, the cart pre-check."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from apps.accounts.models import User
from apps.accounts.selectors import staff_markets
from apps.catalog.models import Category, Product
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


#: The running campaigns' reach per market is kept in process this long: a campaign's
#: status or scope changed in another process shows within it (here at once: the services
#: and the model signals call ``campaign_scopes_forget``). Start and end times are applied
#: at every call, so a campaign's window is exact.
SCOPES_LOCAL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Scope:
    starts_at: dt.datetime
    ends_at: dt.datetime
    categories: frozenset[int]
    products: frozenset[int]
    excluded: frozenset[int]


_scopes: dict[str, tuple[float, list[_Scope]]] = {}
_parents: list[tuple[float, dict[int, Any]]] = []  # the category tree's parents, same bound


def campaign_scopes_forget(**_signal: Any) -> None:
    """Drop this process's copy of every market's campaign reach (a campaign or category
    changed). Also a signal receiver (``CouponsConfig.ready``)."""
    _scopes.clear()
    _parents.clear()


def _market_scopes(market_code: str, now: dt.datetime) -> list[_Scope]:
    """Active campaigns of the market not yet ended (started or not), with what they
    cover: three queries at most once per ``SCOPES_LOCAL_SECONDS`` per process."""
    hit = _scopes.get(market_code)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    scopes = [
        _Scope(
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            categories=frozenset(c.pk for c in campaign.categories.all()),
            products=frozenset(p.pk for p in campaign.products.all()),
            excluded=frozenset(p.pk for p in campaign.excluded_products.all()),
        )
        for campaign in Campaign.objects.filter(
            status=Campaign.Status.ACTIVE, markets=market_code, ends_at__gt=now
        ).prefetch_related(
            Prefetch("categories", queryset=Category.objects.only("pk")),
            Prefetch("products", queryset=Product.objects.only("pk")),
            Prefetch("excluded_products", queryset=Product.objects.only("pk")),
        )
    ]
    _scopes[market_code] = (time.monotonic() + SCOPES_LOCAL_SECONDS, scopes)
    return scopes


def products_with_campaigns(
    *, product_ids: list[int], market: Market, now: dt.datetime | None = None
) -> set[int]:
    """Which of these products a running campaign of ``market`` covers (the catalog's
    ``coupon_applicable`` flag). A campaign without categories or products covers all.
    The campaigns' reach comes from this process's copy (``SCOPES_LOCAL_SECONDS``); the
    products' categories are read each call."""
    now = now or clock.now()
    campaigns = [c for c in _market_scopes(market.code, now) if c.starts_at <= now < c.ends_at]
    if not campaigns or not product_ids:
        return set()
    categories: dict[int, Any] = {}
    parents: dict[int, Any] = {}
    if any(c.categories for c in campaigns):
        categories = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "category_id"))
        parents = category_parents()

    def ancestry(category_id: Any) -> set[int]:
        out = set()
        while category_id is not None and category_id not in out:
            out.add(category_id)
            category_id = parents.get(category_id)
        return out

    covered: set[int] = set()
    for campaign in campaigns:
        for pk in product_ids:
            if pk in campaign.excluded:
                continue
            if (
                (not campaign.categories and not campaign.products)
                or pk in campaign.products
                or ancestry(categories.get(pk)) & campaign.categories
            ):
                covered.add(pk)
    return covered


def category_parents() -> dict[int, Any]:
    """``{category id: parent id}`` of the whole tree, kept like the campaigns' reach."""
    if _parents and _parents[0][0] > time.monotonic():
        return _parents[0][1]
    parents = dict(Category.objects.values_list("pk", "parent_id"))
    _parents[:] = [(time.monotonic() + SCOPES_LOCAL_SECONDS, parents)]
    return parents


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
