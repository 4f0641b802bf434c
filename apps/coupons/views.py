"""Storefront coupon pages: the coupon zone (``/coupons/``: the market's claimable campaigns,
guests included) and my coupons (``/coupons/mine/``).

A claim is a plain POST form (POST-redirect-GET with a message); ``static/coupons/coupons.js``
sends the same form with fetch and ``Accept: application/json``, and the claim view then
answers ``{ok, code, message, remaining, remaining_text, claimed}`` instead of a redirect, so
the page updates in place. Every claim goes through ``services.coupon_claim``; every read
through ``apps.coupons.selectors``.

Each claim form carries a per-render uuid4 (``request_key``), the service's idempotency key:
the same form sent twice (a double click, a retried fetch) is one claim, answered with the
coupon it issued.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import User
from apps.core import clock
from apps.core.cache_control import personal_data
from apps.core.errors import DomainError
from apps.core.formatting import format_money, format_number
from apps.core.money import Money
from apps.coupons import selectors, services
from apps.coupons.errors import SoldOut
from apps.coupons.models import Campaign, Coupon
from apps.markets.models import Market


@dataclass(frozen=True)
class CampaignCard:
    """A claimable campaign as the coupon zone shows it."""

    campaign: Campaign
    name: str
    discount: str
    minimum: str
    remaining_text: str
    sold_out: bool
    started: bool
    #: This member holds as many coupons of it as one member may claim.
    claimed: bool
    request_key: str


@dataclass(frozen=True)
class CouponCard:
    """One of my coupons."""

    coupon: Coupon
    name: str
    discount: str
    minimum: str
    status_label: str
    #: The group's title says it for a plain ready or used coupon.
    show_status: bool


def _member(request: HttpRequest) -> User | None:
    """The signed-in shopper, or None for a guest, a staff account or a system client."""
    user = request.user
    if not isinstance(user, User) or getattr(user, "is_service_account", False):
        return None
    return user if user.has_perm("accounts.shop") else None


def _amount(value: int, campaign: Campaign, market: Market) -> str:
    return format_money(Money(value, campaign.currency or market.currency))


def discount_text(campaign: Campaign, market: Market) -> str:
    """``10% off, up to ₩5,000``, ``10% off`` or ``₩3,000 off``."""
    if campaign.discount_type == Campaign.DiscountType.PERCENT:
        percent = format_number(campaign.discount_value)
        if campaign.max_discount:
            return _("%(percent)s%% off, up to %(amount)s") % {
                "percent": percent,
                "amount": _amount(campaign.max_discount, campaign, market),
            }
        return _("%(percent)s%% off") % {"percent": percent}
    return _("%(amount)s off") % {"amount": _amount(campaign.discount_value, campaign, market)}


def minimum_text(campaign: Campaign, market: Market) -> str:
    if not campaign.min_order_amount:
        return _("No minimum order")
    return _("Orders of %(amount)s or more") % {
        "amount": _amount(campaign.min_order_amount, campaign, market)
    }


def remaining_text(campaign: Campaign, remaining: int | None = -1) -> str:
    """``12 left`` or ``Unlimited`` (``remaining`` overrides the campaign's count)."""
    if remaining == -1:
        remaining = campaign.remaining
    if remaining is None:
        return _("Unlimited")
    return _("%(count)s left") % {"count": format_number(remaining)}


def _request_key(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value or ""))
    except ValueError:
        return None


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _not_a_shopper(request: HttpRequest) -> HttpResponse:
    return render(request, "coupons/not_a_shopper.html", status=403)


@require_GET
def zone_page(request: HttpRequest) -> HttpResponse:
    """The market's claimable campaigns, soonest ending first (guests see them too)."""
    market: Market = request.market  # type: ignore[attr-defined]
    member = _member(request)
    now = clock.now()
    campaigns = list(selectors.campaigns_claimable(market=market, now=now))
    held: Counter[int] = Counter()
    if member is not None and campaigns:
        held = Counter(
            selectors.coupon_list(user=member)
            .filter(campaign_id__in=[c.pk for c in campaigns])
            .values_list("campaign_id", flat=True)
        )
    language = get_language()
    cards = [
        CampaignCard(
            campaign=c,
            name=c.name(language),
            discount=discount_text(c, market),
            minimum=minimum_text(c, market),
            remaining_text=remaining_text(c),
            sold_out=c.remaining == 0,
            started=c.starts_at <= now,
            claimed=held[c.pk] >= c.per_user_limit,
            request_key=str(uuid.uuid4()),
        )
        for c in campaigns
    ]
    context = {
        "cards": cards,
        "member": member,
        "now": now,
        "login_url": f"{settings.LOGIN_URL}?next={reverse('coupons:zone')}",
    }
    # signed in: the middleware answers no-store (the buttons say what this member claimed)
    return render(request, "coupons/zone.html", context)


def _remaining_now(campaign_id: int, market: Market) -> Campaign | None:
    return selectors.campaigns_claimable(market=market).filter(pk=campaign_id).first()


@personal_data
@require_POST
def claim(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Claim one coupon of a campaign: JSON for ``Accept: application/json`` (the page's
    script), otherwise a redirect to the coupon zone with a message."""
    zone = reverse("coupons:zone")
    if not request.user.is_authenticated:
        return redirect_to_login(zone)
    member = _member(request)
    if member is None:
        return _not_a_shopper(request)
    market: Market = request.market  # type: ignore[attr-defined]
    try:
        coupon = services.coupon_claim(
            campaign_id=campaign_id,
            user=member,
            market=market,
            idempotency_key=_request_key(request.POST.get("request_key")),
        )
    except DomainError as exc:
        if not _wants_json(request):
            messages.error(request, exc.detail)
            return HttpResponseRedirect(zone)
        body: dict[str, Any] = {"ok": False, "code": exc.code, "message": exc.detail}
        campaign = _remaining_now(campaign_id, market)
        if campaign is not None:
            remaining = 0 if isinstance(exc, SoldOut) else campaign.remaining
            body["remaining"] = remaining
            body["remaining_text"] = remaining_text(campaign, remaining)
        response = JsonResponse(body, status=exc.http_status)
        for header, value in exc.headers.items():
            response[header] = value
        return response
    name = coupon.campaign.name(get_language())
    message = _("You claimed the coupon “%(name)s”. It is in My coupons.") % {"name": name}
    if not _wants_json(request):
        messages.success(request, message)
        return HttpResponseRedirect(zone)
    campaign = _remaining_now(campaign_id, market) or coupon.campaign
    held = selectors.coupon_list(user=member).filter(campaign_id=campaign_id).count()
    return JsonResponse(
        {
            "ok": True,
            "message": message,
            "coupon_id": str(coupon.public_id),
            "remaining": campaign.remaining,
            "remaining_text": remaining_text(campaign),
            "claimed": held >= campaign.per_user_limit,
            "request_key": str(uuid.uuid4()),
        }
    )


def _group(coupon: Coupon, now: dt.datetime) -> str:
    if coupon.status == Coupon.Status.USED:
        return "used"
    if coupon.status in (Coupon.Status.EXPIRED, Coupon.Status.REVOKED):
        return "gone"
    if coupon.expires_at <= now:  # not yet marked by the expiry task
        return "gone"
    return "ready"


@personal_data
@login_required
@require_GET
def mine_page(request: HttpRequest) -> HttpResponse:
    """My coupons: ready to use, used, expired or revoked."""
    member = _member(request)
    if member is None:
        return _not_a_shopper(request)
    market: Market = request.market  # type: ignore[attr-defined]
    now = clock.now()
    language = get_language()
    groups: dict[str, list[CouponCard]] = {"ready": [], "used": [], "gone": []}
    for coupon in selectors.coupon_list(user=member):
        campaign = coupon.campaign
        group = _group(coupon, now)
        label = coupon.get_status_display()
        if group == "gone" and coupon.status in (Coupon.Status.ISSUED, Coupon.Status.RESERVED):
            label = str(Coupon.Status.EXPIRED.label)
        groups[group].append(
            CouponCard(
                coupon=coupon,
                name=campaign.name(language),
                discount=discount_text(campaign, market),
                minimum=minimum_text(campaign, market),
                status_label=label,
                show_status=group == "gone" or coupon.status == Coupon.Status.RESERVED,
            )
        )
    context = {
        "ready": groups["ready"],
        "used": groups["used"],
        "gone": groups["gone"],
        "total": sum(len(g) for g in groups.values()),
    }
    return render(request, "coupons/mine.html", context)


__all__ = ["claim", "discount_text", "mine_page", "minimum_text", "remaining_text", "zone_page"]
