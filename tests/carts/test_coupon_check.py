"""The cart totals' coupon pre-check (issue 21 item 4): a member's coupon priced against the
cart's lines as an order would (coupons.services.coupon_price): the discount comes off the
total and the tax is on the discounted goods (KR: VAT inside; US: added); an inapplicable
coupon answers its reason and changes no amount; someone else's or a malformed id, and any
guest, is coupon.not_found. Nothing is held by a pre-check."""

from __future__ import annotations

import pytest

from apps.accounts import tokens
from apps.carts import selectors, services
from apps.core.money import Money
from apps.coupons import services as coupon_services
from apps.coupons.models import Coupon
from apps.markets.models import Market
from tests.accounts.factories import MemberFactory, staff
from tests.carts.factories import member_cart, stocked
from tests.coupons.factories import active_campaign

pytestmark = pytest.mark.django_db
TOTALS = "/api/v1/carts/current/totals"


@pytest.fixture
def marketer(db):
    return staff("marketing_manager")


def _bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user)}"}


def _cart_with(member, market: str, price: dict, quantity: int):
    cart = member_cart(member, market)
    product, code = stocked(**price)
    services.cart_item_add(
        cart=cart, sku_code=code, quantity=quantity, market=Market.objects.get(code=market)
    )
    return cart, product


def _coupon(marketer, member, market: str = "KR", **campaign) -> Coupon:
    c = active_campaign(actor=marketer, markets=[market], **campaign)
    return coupon_services.coupon_claim(campaign_id=c.pk, user=member, market=Market.objects.get(code=market))


def test_a_kr_coupon_comes_off_the_total_and_the_vat_is_that_of_the_discounted_goods(api_client, marketer):
    # given: 2 x 10,000 won in a member's KR cart and their 1,000-won coupon
    member = MemberFactory()
    _cart_with(member, "KR", {"kr": 10000}, 2)
    coupon = _coupon(marketer, member, discount_value=1000)
    # when
    body = api_client.get(f"{TOTALS}?coupon_id={coupon.public_id}", **_bearer(member)).json()
    plain = api_client.get(TOTALS, **_bearer(member)).json()
    # then: 20,000 - 1,000 = 19,000; VAT 19,000 x 10/110 = 1,727.27 -> 1,727; shipping free
    # (the threshold reads the goods before the coupon: 20,000 >= 19,800)
    assert body["coupon"] == {
        "valid": True,
        "code": str(coupon.public_id),
        "reason": None,
        "discount": {"amount": 1000, "currency": "KRW", "display": "₩1,000"},
        "message": None,
    }
    assert body["subtotal"]["amount"] == 20000 and body["discount"]["amount"] == 1000
    assert body["estimated_tax"]["amount"] == 1727 and body["tax_included"] is True
    assert body["shipping_fee"]["amount"] == 0
    assert body["total"]["amount"] == 19000
    assert plain["total"]["amount"] == 20000 and plain["estimated_tax"]["amount"] == 1818
    assert plain["discount"]["amount"] == 0 and plain["coupon"] is None
    # and: a pre-check holds nothing
    coupon.refresh_from_db()
    assert (coupon.status, coupon.held_by, coupon.uses.count()) == ("issued", "", 0)


def test_a_us_percent_coupon_and_the_sales_tax_added_on_the_discounted_goods(us_market, marketer):
    # given: $50.00 in a member's US cart and their 10 %-off coupon
    member = MemberFactory()
    cart, _ = _cart_with(member, "US", {"kr": 10000, "us": 5000}, 1)
    coupon = _coupon(marketer, member, "US", discount_type="percent", discount_value=10)
    view = selectors.cart_get(cart=cart, market=us_market)
    # when
    totals = selectors.cart_totals(view=view, coupon_id=str(coupon.public_id), user=member)
    # then: $5.00 off; tax 8 % of $45.00 = $3.60 added; shipping free from $35.00
    assert totals.coupon == selectors.CouponCheck(
        valid=True, code=str(coupon.public_id), discount=Money(500, "USD")
    )
    assert totals.coupon_discount == Money(500, "USD")
    assert totals.merchandise == Money(5000, "USD")
    assert totals.estimated_tax == Money(360, "USD") and totals.tax_included is False
    assert totals.shipping_fee == Money(0, "USD")
    assert totals.total == Money(4860, "USD")


def test_below_the_minimum_the_coupon_answers_its_reason_and_no_amount_changes(api_client, marketer):
    member = MemberFactory()
    _cart_with(member, "KR", {"kr": 10000}, 2)
    coupon = _coupon(marketer, member, min_order_amount=30000)

    body = api_client.get(f"{TOTALS}?coupon_id={coupon.public_id}", **_bearer(member)).json()

    assert body["coupon"]["valid"] is False
    assert body["coupon"]["code"] == str(coupon.public_id)
    assert body["coupon"]["reason"] == "min_order_amount"
    assert body["coupon"]["discount"] is None
    assert "30,000" in body["coupon"]["message"]
    assert (body["discount"]["amount"], body["estimated_tax"]["amount"], body["total"]["amount"]) == (
        0,
        1818,
        20000,
    )


def test_a_coupon_of_other_products_has_no_eligible_items(marketer, kr):
    member = MemberFactory()
    cart, _ = _cart_with(member, "KR", {"kr": 10000}, 1)
    other, _code = stocked(kr=5000)
    coupon = _coupon(marketer, member, products=[other.pk])

    totals = selectors.cart_totals(
        view=selectors.cart_get(cart=cart, market=kr), coupon_id=str(coupon.public_id), user=member
    )

    assert (totals.coupon.valid, totals.coupon.reason) == (False, "no_eligible_items")
    assert totals.coupon_discount is None and totals.total == Money(10000 + 3000, "KRW")


def test_someone_else_s_coupon_or_a_malformed_id_is_not_found(api_client, marketer):
    member, other = MemberFactory(), MemberFactory()
    _cart_with(member, "KR", {"kr": 10000}, 1)
    theirs = _coupon(marketer, other)

    for coupon_id in (str(theirs.public_id), "42"):
        body = api_client.get(f"{TOTALS}?coupon_id={coupon_id}", **_bearer(member)).json()
        assert body["coupon"] == {
            "valid": False,
            "code": None,
            "reason": "coupon.not_found",
            "discount": None,
            "message": None,
        }
        assert body["total"]["amount"] == 13000


@pytest.fixture
def us_market(db) -> Market:
    return Market.objects.get(code="US")
