"""Coupons through the order flow (issue 21 item 4): priced and held at placement, used on
payment, released on cancellation or expiry, restored when a paid order is cancelled."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.coupons import services as coupons
from apps.coupons.errors import CouponNotFound, NotApplicable
from apps.coupons.models import Coupon, CouponUse
from apps.orders import services
from apps.orders.models import Order
from apps.payments.models import Wallet
from tests.carts.factories import stocked
from tests.coupons.factories import active_campaign
from tests.orders.conftest import address_for
from tests.orders.factories import items_of, key, sku_stock
from tests.payments.factories import MemberFactory, funded_wallet, ledger_sum, staff

pytestmark = pytest.mark.django_db


def _claimed(member, market, **campaign):
    marketer = staff("marketing_manager", email="marketer-orders@staff.test")
    camp = active_campaign(actor=marketer, **campaign)
    return coupons.coupon_claim(campaign_id=camp.pk, user=member, market=market)


def _place(member, market, items, coupon=None):
    return services.order_place(
        user=member,
        market=market,
        idempotency_key=key(),
        items=items,
        coupon_id=str(coupon.public_id) if coupon else None,
        shipping_address=address_for(market),
    ).order


def test_a_coupon_discounts_only_its_eligible_lines_and_the_lines_still_add_up(kr):
    # given a 10 % coupon (cap 5,000 won) that covers one of two products
    member = MemberFactory()
    covered, sku_a = stocked(kr=12_900)
    _, sku_b = stocked(kr=3_300)
    coupon = _claimed(
        member, kr, discount_type="percent", discount_value=10, max_discount=5_000, products=[covered.pk]
    )

    # when an order of both is placed with it
    order = _place(member, kr, items_of((sku_a, 2), (sku_b, 1)), coupon)

    # then 10 % of 25,800 (rounded down to 10 won) comes off product A's line only
    lines = list(order.lines.order_by("position"))
    assert order.coupon_discount == 2_580
    assert [line.coupon_share for line in lines] == [2_580, 0]
    assert order.total == sum(line.line_total for line in lines) == 25_800 + 3_300 - 2_580  # free shipping
    assert order.tax == round((order.total) * 10 / 110)  # KR VAT inside what is paid
    coupon.refresh_from_db()
    assert (coupon.status, coupon.held_by) == ("reserved", order.owner)
    assert CouponUse.objects.get(coupon=coupon).order_number == order.number


def test_us_sales_tax_is_on_the_discounted_goods(us):
    member = MemberFactory(market_id="US")
    _, sku = stocked(us=5_000)
    coupon = _claimed(member, us, discount_type="fixed", discount_value=1_000, markets=["US"])

    order = _place(member, us, items_of((sku, 1)), coupon)

    assert order.coupon_discount == 1_000
    assert order.tax == 320  # 8 % of 4,000 cents
    assert order.total == 4_000 + 320  # 50 dollars is past the free-shipping threshold


def test_paying_uses_the_coupon_and_cancelling_the_paid_order_restores_it(kr):
    member = MemberFactory()
    _, sku = stocked(kr=12_900)
    coupon = _claimed(member, kr, discount_value=2_000)
    order = _place(member, kr, items_of((sku, 1)), coupon)
    funded_wallet(member, kr, order.total)

    services.order_pay_wallet(order_id=str(order.public_id), user=member, idempotency_key=key())

    coupon.refresh_from_db()
    assert (coupon.status, coupon.uses_left) == ("used", 0)
    assert (
        OutboxEvent.objects.filter(type="coupon.used", payload__coupon_id=str(coupon.public_id)).count() == 1
    )

    services.order_cancel(order_id=str(order.public_id), user=member, reason="changed my mind")

    coupon.refresh_from_db()
    assert (coupon.status, coupon.uses_left) == ("issued", 1)
    wallet = Wallet.objects.get(user=member)
    assert wallet.balance == order.total == ledger_sum(wallet)
    assert list(CouponUse.objects.filter(coupon=coupon).values_list("status", flat=True)) == ["restored"]


def test_cancelling_or_expiring_an_unpaid_order_releases_its_coupon(kr):
    member = MemberFactory()
    _, sku = stocked(kr=12_900)
    first = _claimed(member, kr, discount_value=1_000)
    second = _claimed(member, kr, discount_value=1_500)
    cancelled = _place(member, kr, items_of((sku, 1)), first)
    expired = _place(member, kr, items_of((sku, 1)), second)

    services.order_cancel(order_id=str(cancelled.public_id), user=member)
    assert services.orders_expire_due(now=clock.now() + dt.timedelta(hours=1)) == 1

    for coupon in (first, second):
        coupon.refresh_from_db()
        assert (coupon.status, coupon.held_by) == ("issued", "")
    assert set(CouponUse.objects.values_list("status", flat=True)) == {"released"}
    assert Order.objects.get(pk=expired.pk).status == "cancelled"


def test_a_coupon_held_by_one_order_cannot_be_used_by_another(kr):
    member = MemberFactory()
    _, sku = stocked(kr=12_900)
    coupon = _claimed(member, kr)
    _place(member, kr, items_of((sku, 1)), coupon)
    level = sku_stock(sku)
    reserved_before = level.reserved

    with pytest.raises(NotApplicable) as refused:
        _place(member, kr, items_of((sku, 1)), coupon)

    assert refused.value.params["reason"] == "not_usable"
    assert Order.objects.filter(user=member).count() == 1
    assert sku_stock(sku).reserved == reserved_before  # the refused order held nothing


def test_an_order_below_the_minimum_or_with_another_members_coupon_is_refused(kr):
    member = MemberFactory()
    _, sku = stocked(kr=5_000)
    coupon = _claimed(member, kr, min_order_amount=30_000)
    someone_else = _claimed(MemberFactory(), kr)

    with pytest.raises(NotApplicable) as below:
        _place(member, kr, items_of((sku, 1)), coupon)
    with pytest.raises(CouponNotFound):
        _place(member, kr, items_of((sku, 1)), someone_else)

    assert below.value.params["reason"] == "min_order_amount"
    assert not Order.objects.filter(user=member).exists()
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"
