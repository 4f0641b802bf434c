"""The checkout page's coupon chooser (issue 21 item 7): the member's usable coupons are
offered, applying one shows its discount in the totals, and paying uses it."""

from __future__ import annotations

import re

from apps.coupons import services as coupons
from apps.coupons.models import Coupon
from apps.orders.models import Order
from tests.carts.factories import stocked
from tests.coupons.factories import active_campaign
from tests.orders.test_storefront import _checkout_data, _client, _in_cart, _member
from tests.payments.factories import funded_wallet, staff


def _claimed(member, market, **campaign):
    camp = active_campaign(actor=staff("marketing_manager", email="marketer-checkout@staff.test"), **campaign)
    return coupons.coupon_claim(campaign_id=camp.pk, user=member, market=market)


def test_applying_a_coupon_shows_its_discount_and_paying_uses_it(kr, django_capture_on_commit_callbacks):
    # given a member with a 2,000-won coupon and 12,900 won of goods in the cart
    member = _member()
    coupon = _claimed(member, kr, discount_value=2_000, name_ko="첫 구매 쿠폰", name_en="First order")
    _, sku = stocked(kr=12_900)
    _in_cart(member, kr, sku)
    funded_wallet(member, kr, 100_000)
    client = _client(member)

    # when the checkout page is opened, then the coupon applied
    offered = client.get("/checkout/").content.decode()
    applied = client.get("/checkout/", {"coupon": str(coupon.public_id)}).content.decode()

    # then it is offered, and once applied the totals take it off (12,900 + 3,000 shipping - 2,000)
    assert "첫 구매 쿠폰" in offered and 'id="total-coupon"' not in offered
    assert re.search(r'id="total-coupon">−₩2,000<', applied)
    assert re.search(r'id="total-total">₩13,900<', applied)
    assert f'name="coupon" value="{coupon.public_id}"' in applied

    # and paying from that page places the order with the coupon and uses it
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/checkout/", _checkout_data(applied, coupon=str(coupon.public_id)))
    order = Order.objects.get(user=member)
    assert response.status_code == 302
    assert (order.status, order.coupon_discount, order.total) == ("paid", 2_000, 13_900)
    assert Coupon.objects.get(pk=coupon.pk).status == "used"


def test_a_coupon_that_does_not_fit_says_why_and_is_not_carried(kr):
    member = _member()
    coupon = _claimed(member, kr, min_order_amount=50_000)
    _, sku = stocked(kr=12_900)
    _in_cart(member, kr, sku)
    client = _client(member)

    html = client.get("/checkout/", {"coupon": str(coupon.public_id)}).content.decode()

    assert 'id="coupon-problem"' in html and "50,000" in html
    assert 'id="total-coupon"' not in html
    assert f'name="coupon" value="{coupon.public_id}"' not in html
    assert not Order.objects.filter(user=member).exists()  # applying is a GET: nothing placed
