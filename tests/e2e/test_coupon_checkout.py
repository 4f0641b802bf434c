"""Browser: a member claims a coupon in the coupon zone, applies it at checkout, pays with
the wallet, and sees the coupon used (issue 21 "Show")."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.coupons.models import Coupon
from apps.markets.models import Market
from apps.orders.models import Order
from tests.accounts.factories import PASSWORD, MemberFactory, staff
from tests.carts.factories import stocked
from tests.coupons.factories import active_campaign
from tests.e2e.test_checkout import _context, markets  # noqa: F401 - the fixture, shared
from tests.payments.factories import funded_wallet

pytestmark = pytest.mark.django_db(transaction=True)


def test_claim_a_coupon_apply_it_at_checkout_pay_and_see_it_used(browser, live_server, markets):  # noqa: F811
    kr = Market.objects.get(code="KR")
    campaign = active_campaign(
        actor=staff("marketing_manager", email="marketer-e2e@staff.test"),
        name_ko="주팡 첫 구매 쿠폰",
        name_en="First order coupon",
        discount_value=2_000,
        total_quantity=10,
    )
    member = MemberFactory(
        email="coupon.buyer@example.test",
        locale="ko",
        market_id="KR",
        default_address={
            "recipient": "김민지",
            "line1": "세종대로 110",
            "city": "서울",
            "postal_code": "04524",
            "country": "KR",
        },
    )
    funded_wallet(member, kr, 100_000)
    product, _sku = stocked(
        kr=12_900, stock={"KR": 5}, name_ko="제주 감귤 3kg", name_en="Jeju Tangerines 3 kg"
    )
    page = _context(browser, live_server, language="ko", width=1280)
    base = live_server.url
    try:
        # 1. sign in and claim the coupon in the coupon zone (no reload)
        page.goto(base + "/accounts/login/?next=/coupons/")
        page.get_by_label("이메일").fill(member.email)
        page.get_by_label("비밀번호").fill(PASSWORD)
        page.locator("form.account-form button[type=submit]").click()
        page.wait_for_url(base + "/coupons/")
        card = page.locator(f"#campaign-{campaign.pk}")
        card.locator(".claim-button").click()
        expect(card).to_have_class(re.compile(r"\bis-claimed\b"))
        coupon = Coupon.objects.get(user=member, campaign=campaign)

        # 2. the product into the cart, then checkout with the coupon applied
        page.goto(base + f"/p/{product.pk}/{product.slug}/")
        page.locator("#add-to-cart button[type=submit]").click()
        page.wait_for_url(base + "/cart/")
        page.locator("#checkout-button").click()
        page.wait_for_url(base + "/checkout/")
        expect(page.locator("#total-total")).to_have_text("₩15,900")
        page.locator("#coupon-select").select_option(str(coupon.public_id))
        page.locator("#coupon-apply").click()
        expect(page.locator("#total-coupon")).to_have_text("−₩2,000")
        expect(page.locator("#total-total")).to_have_text("₩13,900")

        # 3. pay: the order is paid with the discount, and the coupon is used
        page.locator("#pay-button").click()
        page.wait_for_url(lambda url: "/complete/" in url)
        order = Order.objects.get(user=member)
        assert (order.status, order.coupon_discount, order.total) == ("paid", 2_000, 13_900)
        page.goto(base + "/coupons/mine/")
        expect(page.locator("#coupons-used")).to_contain_text("주팡 첫 구매 쿠폰")
        assert Coupon.objects.get(pk=coupon.pk).status == "used"
    finally:
        page.context.close()
