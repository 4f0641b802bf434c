"""Coupons in the order flow: price a coupon against an order's lines, hold it with the
order, use it on payment, release it on cancellation or expiry, restore it after a paid
order is cancelled (while its campaign runs).

All of these run in the caller's (the order's) transaction and lock the coupon row, so a
coupon can be held by one order at a time. Lock order: the order row, then inventory, then
the coupon, then the wallet.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, QuerySet

from apps.accounts.models import User
from apps.catalog.models import Category
from apps.core import clock
from apps.core.money import Money
from apps.core.outbox import publish
from apps.coupons.errors import NOT_APPLICABLE_REASONS, CouponNotFound, NotApplicable
from apps.coupons.models import Campaign, Coupon, CouponUse
from apps.markets.models import Market


@dataclass(frozen=True)
class PricedLine:
    """What the coupon needs to know of an order line."""

    product_id: int
    category_id: int | None
    merchandise: int  # unit price x quantity, minor units


@dataclass(frozen=True)
class Pricing:
    coupon: Coupon
    discount: int
    #: Per line (same order as given): the part of its merchandise the coupon applies to
    #: (0 for lines it does not cover). The caller allocates ``discount`` over these.
    eligible: list[int]


def _not_applicable(reason: str, **params: object) -> NotApplicable:
    text = NOT_APPLICABLE_REASONS[reason]
    return NotApplicable(reason=reason, reason_text=str(text) % params if params else str(text))


def _category_closure(campaign: Campaign) -> set[int]:
    """The campaign's categories and every category below them."""
    chosen = set(campaign.categories.values_list("pk", flat=True))
    if not chosen:
        return set()
    children: dict[int | None, list[int]] = {}
    for pk, parent in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent, []).append(pk)
    out, todo = set(), list(chosen)
    while todo:
        pk = todo.pop()
        if pk not in out:
            out.add(pk)
            todo.extend(children.get(pk, []))
    return out


def eligible_amounts(campaign: Campaign, lines: Sequence[PricedLine]) -> list[int]:
    categories = _category_closure(campaign)
    products = set(campaign.products.values_list("pk", flat=True))
    excluded = set(campaign.excluded_products.values_list("pk", flat=True))
    out = []
    for line in lines:
        if line.product_id in excluded:
            out.append(0)
        elif (
            (not categories and not products)
            or line.product_id in products
            or (line.category_id is not None and line.category_id in categories)
        ):
            out.append(line.merchandise)
        else:
            out.append(0)
    return out


def discount_for(campaign: Campaign, eligible_total: int, market: Market) -> int:
    """The discount on ``eligible_total``: fixed, or percent capped at ``max_discount``;
    rounded DOWN to the market's increment (10 won in KR, 1 cent in US); never more than
    what it applies to."""
    if campaign.discount_type == Campaign.DiscountType.FIXED:
        discount = min(int(campaign.discount_value), eligible_total)
    else:
        discount = eligible_total * int(campaign.discount_value) // 100
        if campaign.max_discount is not None:
            discount = min(discount, int(campaign.max_discount))
    increment = max(int(market.rounding_increment), 1)
    discount -= discount % increment
    return max(min(discount, eligible_total), 0)


def _usable(coupon: Coupon, *, market: Market, now: dt.datetime, held_by: str = "") -> None:
    campaign = coupon.campaign
    if coupon.status == Coupon.Status.RESERVED and held_by and coupon.held_by == held_by:
        pass  # the same order asking again
    elif coupon.status != Coupon.Status.ISSUED:
        raise _not_applicable("not_usable")
    if coupon.uses_left < 1:
        raise _not_applicable("used_up")
    if coupon.expires_at <= now:
        raise _not_applicable("expired")
    if campaign.status not in (Campaign.Status.ACTIVE, Campaign.Status.PAUSED) or now >= campaign.ends_at:
        raise _not_applicable("campaign_inactive")
    if not campaign.markets.filter(pk=market.code).exists():
        raise _not_applicable("market")


def coupon_price(
    *,
    coupon: Coupon,
    market: Market,
    lines: Sequence[PricedLine],
    now: dt.datetime | None = None,
    held_by: str = "",
) -> Pricing:
    """What ``coupon`` takes off these lines, or ``coupon.not_applicable`` with the reason."""
    now = now or clock.now()
    _usable(coupon, market=market, now=now, held_by=held_by)
    campaign = coupon.campaign
    eligible = eligible_amounts(campaign, lines)
    total = sum(eligible)
    if total <= 0:
        raise _not_applicable("no_eligible_items")
    if total < campaign.min_order_amount:
        minimum = Money(int(campaign.min_order_amount), market.currency).format()
        raise _not_applicable("min_order_amount", min_order_amount=minimum)
    return Pricing(coupon, discount_for(campaign, total, market), eligible)


def coupon_preview(*, public_id: object, user: User, market: Market, lines: Sequence[PricedLine]) -> Pricing:
    """What the member's coupon would take off these lines, without holding it (the order
    prices with it, then holds it after its stock: inventory rows are locked before coupon
    rows in every flow). Raises: coupon.not_found, coupon.not_applicable."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        raise CouponNotFound(coupon=str(public_id)[:64]) from None
    coupon = Coupon.objects.select_related("campaign").filter(public_id=key, user=user).first()
    if coupon is None:
        raise CouponNotFound(coupon=str(public_id)[:64])
    return coupon_price(coupon=coupon, market=market, lines=lines)


def coupon_for_update(*, public_id: object, user: User) -> Coupon:
    """The member's coupon, row-locked in the caller's transaction. Raises: coupon.not_found."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        raise CouponNotFound(coupon=str(public_id)[:64]) from None
    qs: QuerySet[Coupon] = Coupon.objects.select_related("campaign").filter(public_id=key, user=user)
    if connection.vendor == "postgresql":
        qs = qs.select_for_update(of=("self",))
    coupon = qs.first()
    if coupon is None:
        raise CouponNotFound(coupon=str(public_id))
    return coupon


def coupon_hold(
    *,
    public_id: object,
    user: User,
    market: Market,
    owner: str,
    lines: Sequence[PricedLine],
    order_number: str = "",
) -> Pricing:
    """Price the coupon against the order's lines and hold it for ``owner`` (the order).
    Runs in the caller's transaction. Locks: the coupon row.
    Raises: coupon.not_found, coupon.not_applicable."""
    coupon = coupon_for_update(public_id=public_id, user=user)
    pricing = coupon_price(coupon=coupon, market=market, lines=lines, held_by=owner)
    now = clock.now()
    Coupon.objects.filter(pk=coupon.pk).update(status=Coupon.Status.RESERVED, held_by=owner)
    coupon.status, coupon.held_by = Coupon.Status.RESERVED, owner
    CouponUse.objects.create(
        coupon=coupon,
        owner=owner,
        order_number=order_number,
        discount=pricing.discount,
        currency=market.currency,
        status=CouponUse.Status.HELD,
        created_at=now,
        updated_at=now,
    )
    return pricing


def _held(owner: str, *statuses: str) -> list[Coupon]:
    qs = Coupon.objects.select_related("campaign").filter(held_by=owner, status__in=statuses).order_by("pk")
    if connection.vendor == "postgresql":
        qs = qs.select_for_update(of=("self",))
    return list(qs)


def _use_status(owner: str, frm: str, to: str, *, order_number: str = "") -> None:
    changes: dict[str, object] = {"status": to, "updated_at": clock.now()}
    if order_number:
        changes["order_number"] = order_number
    CouponUse.objects.filter(owner=owner, status=frm).update(**changes)


def coupon_use(*, owner: str, order_number: str = "") -> list[Coupon]:
    """The order was paid: its held coupon is used (one use; a multi-use coupon with uses
    left goes back to ready). Runs in the caller's transaction. Emits: coupon.used."""
    now = clock.now()
    used = []
    for coupon in _held(owner, Coupon.Status.RESERVED):
        left = coupon.uses_left - 1
        status = Coupon.Status.USED if left == 0 else Coupon.Status.ISSUED
        Coupon.objects.filter(pk=coupon.pk).update(
            status=status, uses_left=left, used_at=now, held_by=owner if status == Coupon.Status.USED else ""
        )
        publish(
            type="coupon.used",
            aggregate_type="coupon_campaign",
            aggregate_id=coupon.campaign_id,
            market=None,
            payload={
                "coupon_id": str(coupon.public_id),
                "user_id": coupon.user_id,
                "order": owner,
                "uses_left": left,
            },
        )
        used.append(coupon)
    _use_status(owner, CouponUse.Status.HELD, CouponUse.Status.USED, order_number=order_number)
    return used


def coupon_release(*, owner: str) -> int:
    """An unpaid order was cancelled or expired: its coupon is ready again. Runs in the
    caller's transaction. Locks: the coupon row."""
    held = _held(owner, Coupon.Status.RESERVED)
    for coupon in held:
        Coupon.objects.filter(pk=coupon.pk, status=Coupon.Status.RESERVED).update(
            status=Coupon.Status.ISSUED, held_by=""
        )
    _use_status(owner, CouponUse.Status.HELD, CouponUse.Status.RELEASED)
    return len(held)


def coupon_restore(*, owner: str) -> int:
    """A paid order was cancelled: give its coupon's use back while the coupon and its
    campaign still run (after that it stays used, and so does its usage row). A coupon
    another order holds meanwhile stays held by it, with one use more. Runs in the caller's
    transaction. Locks: the coupon row."""
    now = clock.now()
    restored: list[int] = []
    ids = set(
        CouponUse.objects.filter(owner=owner, status=CouponUse.Status.USED).values_list(
            "coupon_id", flat=True
        )
    )
    qs = Coupon.objects.select_related("campaign").filter(pk__in=ids).order_by("pk")
    if connection.vendor == "postgresql":
        qs = qs.select_for_update(of=("self",))
    for coupon in qs:
        campaign = coupon.campaign
        if coupon.status == Coupon.Status.REVOKED or coupon.expires_at <= now or now >= campaign.ends_at:
            continue
        if campaign.status == Campaign.Status.ENDED:
            continue
        if coupon.status == Coupon.Status.RESERVED:
            Coupon.objects.filter(pk=coupon.pk).update(uses_left=F("uses_left") + 1)
        else:
            Coupon.objects.filter(pk=coupon.pk).update(
                status=Coupon.Status.ISSUED, uses_left=F("uses_left") + 1, held_by=""
            )
        restored.append(coupon.pk)
    CouponUse.objects.filter(owner=owner, status=CouponUse.Status.USED, coupon_id__in=restored).update(
        status=CouponUse.Status.RESTORED, updated_at=now
    )
    return len(restored)
