"""Analytics test data: real orders in both markets, placed, paid, cancelled and returned
through the order services at chosen instants around each market's midnight, and an
independent reckoning of what each market-day's figures must be."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from apps.coupons import services as coupons
from apps.coupons.models import Campaign, Coupon
from apps.markets.models import Market
from apps.orders import services
from apps.orders.models import Order, OrderRefund
from tests.carts.factories import stocked
from tests.coupons.factories import active_campaign
from tests.orders.conftest import address_for
from tests.orders.factories import items_of, key
from tests.payments.factories import MemberFactory, funded_wallet, staff

UTC = dt.UTC
KST = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


#: The instants of the scenario (UTC) and the market-local days they fall on.
A_PAID = utc(2026, 11, 29, 14, 59)  # KR 23:59 on the 29th
B_PAID = utc(2026, 11, 29, 15, 0)  # KR 00:00 on the 30th: the same UTC day as A
C_PAID = utc(2026, 11, 30, 4, 30)  # US 23:30 EST on the 29th: a UTC day later
D_PAID = utc(2026, 11, 30, 5, 0)  # US 00:00 EST on the 30th
A_CANCELLED = utc(2026, 11, 30, 16, 0)  # KR 01:00 on Dec 1: refund of A's whole total
C_FULFILLED = utc(2026, 11, 30, 6, 0)
C_RETURNED = utc(2026, 12, 1, 3, 0)  # US 22:00 EST on the 30th: one of C's two units
B_CANCELLED = utc(2026, 12, 1, 0, 0)  # KR 09:00 on Dec 1: refund of B, its coupon restored
CAMPAIGN_CREATED = utc(2026, 11, 29, 10, 0)  # KR 19:00 on the 29th
FIRST_CLAIM = utc(2026, 11, 29, 14, 0)  # KR 23:00 on the 29th
SECOND_CLAIM = utc(2026, 11, 29, 15, 30)  # KR 00:30 on the 30th


@dataclass
class Scenario:
    orders: dict[str, Order] = field(default_factory=dict)
    campaign: Campaign | None = None


def _place_and_pay(
    at: Callable[[dt.datetime], None],
    when: dt.datetime,
    member: Any,
    market: Market,
    items: list[dict[str, Any]],
    coupon: Coupon | None = None,
) -> Order:
    at(when - dt.timedelta(minutes=2))
    order = services.order_place(
        user=member,
        market=market,
        idempotency_key=key(),
        items=items,
        coupon_id=str(coupon.public_id) if coupon else None,
        shipping_address=address_for(market),
    ).order
    funded_wallet(member, market, order.total)
    at(when)
    services.order_pay_wallet(order_id=str(order.public_id), user=member, idempotency_key=key())
    order.refresh_from_db()
    assert order.paid_at == when
    return order


def build_scenario(at: Callable[[dt.datetime], None]) -> Scenario:
    """Four paid orders across KST and EST midnights (one at a sale price, one with a
    coupon), then a paid cancellation and a partial return landing on later local days."""
    kr, us = Market.objects.get(code="KR"), Market.objects.get(code="US")
    scenario = Scenario()
    at(CAMPAIGN_CREATED)
    marketer = staff("marketing_manager", email="marketer-analytics@staff.test")
    campaign = active_campaign(
        actor=marketer,
        name_en="=Night owl",  # a formula-looking name: CSV must keep it text
        name_ko="올빼미 쿠폰",
        discount_value=1_000,
        ends_at=CAMPAIGN_CREATED + dt.timedelta(days=3),
    )
    scenario.campaign = campaign
    shopper_a, shopper_b = MemberFactory(), MemberFactory()
    at(FIRST_CLAIM)
    coupon_b = coupons.coupon_claim(campaign_id=campaign.pk, user=shopper_b, market=kr)
    at(SECOND_CLAIM)
    coupons.coupon_claim(campaign_id=campaign.pk, user=shopper_a, market=kr)

    at(A_PAID - dt.timedelta(minutes=5))
    _, on_sale = stocked(kr=12_000, kr_sale=9_900, us=1_500)
    _, plain = stocked(kr=25_000, us=2_499)
    scenario.orders["A"] = _place_and_pay(at, A_PAID, shopper_a, kr, items_of((on_sale, 2)))
    scenario.orders["B"] = _place_and_pay(at, B_PAID, shopper_b, kr, items_of((plain, 1)), coupon_b)
    scenario.orders["C"] = _place_and_pay(at, C_PAID, MemberFactory(), us, items_of((plain, 2)))
    scenario.orders["D"] = _place_and_pay(at, D_PAID, MemberFactory(), us, items_of((on_sale, 1)))

    at(C_FULFILLED)
    ops = staff("ops_admin", email="ops-analytics@staff.test")
    order_c = scenario.orders["C"]
    services.order_transition(
        order_id=str(order_c.public_id), to_status="fulfilled", actor=ops, reason="shipped", markets=["US"]
    )
    at(A_CANCELLED)
    services.order_cancel(order_id=str(scenario.orders["A"].public_id), user=shopper_a)
    at(B_CANCELLED)
    services.order_cancel(order_id=str(scenario.orders["B"].public_id), user=shopper_b)
    at(C_RETURNED)
    services.order_refund(
        order_id=str(order_c.public_id),
        user=order_c.user,
        reason="one was enough",
        idempotency_key=key(),
        lines=[{"line": 1, "quantity": 1}],
    )
    for order in scenario.orders.values():
        order.refresh_from_db()
    return scenario


# --- the direct reckoning ------------------------------------------------------------------


def reckon_daily_sales(market: Market, date: dt.date) -> dict[str, int]:
    """What one market-day's row must say, from the orders and refunds themselves, in
    Python (dates converted one by one, gross from the order's parts, not its total)."""
    zone = ZoneInfo(market.time_zone)
    paid = [
        order
        for order in Order.objects.filter(market=market, paid_at__isnull=False)
        if order.paid_at is not None and order.paid_at.astimezone(zone).date() == date
    ]
    refunds = [
        refund
        for refund in OrderRefund.objects.filter(order__market=market)
        if refund.created_at.astimezone(zone).date() == date
    ]
    gross = sum(o.subtotal + o.shipping_fee + (0 if o.tax_included else o.tax) for o in paid)
    discounts = sum(o.sale_discount + o.coupon_discount for o in paid)
    refunded = sum(r.amount for r in refunds)
    return {
        "orders": len(paid),
        "gross": gross,
        "discounts": discounts,
        "refunds": refunded,
        "net": gross - discounts - refunded,
    }


def reckon_coupon_usage(campaign: Campaign, zone: ZoneInfo, date: dt.date) -> dict[str, Any]:
    """Claims of the campaign's coupons and paid orders that carried one, by local day."""
    codes = {str(c.public_id): c for c in Coupon.objects.filter(campaign=campaign)}
    claimed = [c.claimed_at.astimezone(zone).date() for c in codes.values()]
    used = [
        o.paid_at.astimezone(zone).date()
        for o in Order.objects.filter(paid_at__isnull=False).exclude(coupon_code="")
        if o.coupon_code in codes and o.paid_at is not None
    ]
    issued_to_date = sum(1 for d in claimed if d <= date)
    used_to_date = sum(1 for d in used if d <= date)
    return {
        "issued": sum(1 for d in claimed if d == date),
        "used": sum(1 for d in used if d == date),
        "issued_to_date": issued_to_date,
        "used_to_date": used_to_date,
        "usage_rate": (
            (Decimal(used_to_date) / Decimal(issued_to_date)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            if issued_to_date
            else None
        ),
    }
