"""Totals per market: sale discounts, VAT included (KR, to the won) or sales tax added (US,
to the cent), shipping by the market's threshold (one unit below, at, above), and lines
not sold in the market left out; the calculators come from settings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.carts import selectors, services
from apps.carts.calculators import ShippingQuote
from apps.core.money import Money
from apps.markets.models import Market
from tests.carts.factories import guest_cart, stocked

pytestmark = pytest.mark.django_db


def _totals(market: Market, *prices_and_quantities: tuple[dict, int], coupon_id: str | None = None):
    cart, _token = guest_cart(market.code)
    for price, quantity in prices_and_quantities:
        _, code = stocked(**price)
        services.cart_item_add(cart=cart, sku_code=code, quantity=quantity, market=market)
    view = selectors.cart_get(cart=cart, market=market)
    return selectors.cart_totals(view=view, coupon_id=coupon_id)


def _amounts(t) -> dict[str, int]:
    return {
        "subtotal": t.subtotal.amount,
        "discount": t.discount.amount,
        "tax": t.estimated_tax.amount,
        "shipping": t.shipping_fee.amount,
        "remaining": t.free_shipping_remaining.amount,
        "total": t.total.amount,
    }


# KR: 3,000 won shipping, free from 19,800 won; VAT 10 % included (10/110 of the total).
@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (
            19799,
            {"subtotal": 19799, "discount": 0, "tax": 1800, "shipping": 3000, "remaining": 1, "total": 22799},
        ),
        (
            19800,
            {"subtotal": 19800, "discount": 0, "tax": 1800, "shipping": 0, "remaining": 0, "total": 19800},
        ),
        (
            19801,
            {"subtotal": 19801, "discount": 0, "tax": 1800, "shipping": 0, "remaining": 0, "total": 19801},
        ),
        (
            10000,
            {
                "subtotal": 10000,
                "discount": 0,
                "tax": 909,
                "shipping": 3000,
                "remaining": 9800,
                "total": 13000,
            },
        ),
    ],
)
def test_kr_threshold_edges_and_included_vat_to_the_won(kr, price, expected):
    totals = _totals(kr, ({"kr": price}, 1))

    assert _amounts(totals) == expected
    assert totals.tax_included is True and totals.subtotal.currency == "KRW"


def test_kr_vat_rounds_half_up_to_the_won(kr):
    # 19,799 x 10/110 = 1,799.909 -> 1,800; 10,010 x 10/110 = 910.0; 10,005 x 10/110 = 909.545 -> 910
    assert _totals(kr, ({"kr": 10005}, 1)).estimated_tax == Money(910, "KRW")
    assert _totals(kr, ({"kr": 10004}, 1)).estimated_tax == Money(909, "KRW")  # 909.45 -> 909


def test_kr_sale_discount_is_shown_and_counts_toward_free_shipping(kr):
    totals = _totals(kr, ({"kr": 12000, "kr_sale": 9900}, 2))

    assert _amounts(totals) == {
        "subtotal": 24000,
        "discount": 4200,
        "tax": 1800,
        "shipping": 0,
        "remaining": 0,
        "total": 19800,
    }


# US: $5.99 shipping, free from $35.00; sales tax 8 % added.
@pytest.mark.parametrize(
    ("cents", "shipping", "remaining", "tax"),
    [(3499, 599, 1, 280), (3500, 0, 0, 280), (3501, 0, 0, 280)],
)
def test_us_threshold_edges_and_added_tax(us, cents, shipping, remaining, tax):
    totals = _totals(us, ({"us": cents}, 1))

    assert (totals.shipping_fee.amount, totals.free_shipping_remaining.amount) == (shipping, remaining)
    assert totals.estimated_tax.amount == tax  # 34.99 x 8 % = 2.7992 -> 2.80; 35.01 -> 2.8008 -> 2.80
    assert totals.total.amount == cents + shipping + tax
    assert totals.tax_included is False and totals.total.currency == "USD"


def test_us_tax_rounds_half_up_to_the_cent(us):
    us.tax_rate = Decimal("0.0750")
    us.save(update_fields=["tax_rate"])
    from apps.markets.services import markets_cache_clear

    markets_cache_clear()
    us = Market.objects.get(code="US")

    assert _totals(us, ({"us": 60}, 1)).estimated_tax == Money(5, "USD")  # 4.5 cents -> 5 (half up)
    assert _totals(us, ({"us": 1010}, 1)).estimated_tax == Money(76, "USD")  # 75.75 -> 76
    assert _totals(us, ({"us": 1002}, 1)).estimated_tax == Money(75, "USD")  # 75.15 -> 75


def test_lines_not_sold_in_the_market_are_left_out_of_the_totals(kr, us):
    cart, _token = guest_cart()
    _, both = stocked(kr=10000, us=1000, stock={"KR": 5, "US": 5})
    _, kr_only = stocked(kr=20000, us=2000, stock={"KR": 5})
    for code in (both, kr_only):
        services.cart_item_add(cart=cart, sku_code=code, quantity=1, market=kr)

    view = selectors.cart_get(cart=cart, market=us)
    totals = selectors.cart_totals(view=view)

    assert [(line.sku, line.available, line.issue) for line in view.lines] == [
        (both, True, None),
        (kr_only, False, "cart.sku_unavailable"),
    ]
    assert totals.subtotal == Money(1000, "USD")
    assert view.item_count == 2  # the flagged line is kept


def test_a_line_over_the_stock_now_is_flagged_and_a_sold_out_one_left_out(kr):
    from apps.inventory.models import StockLevel

    cart, _token = guest_cart()
    _, short = stocked(kr=1000, stock={"KR": 5})
    _, gone = stocked(kr=2000, stock={"KR": 5})
    services.cart_item_add(cart=cart, sku_code=short, quantity=3, market=kr)
    services.cart_item_add(cart=cart, sku_code=gone, quantity=1, market=kr)
    StockLevel.objects.filter(sku__code=short).update(on_hand=2)
    StockLevel.objects.filter(sku__code=gone).update(on_hand=0)

    view = selectors.cart_get(cart=cart, market=kr)

    assert [(line.available, line.issue, line.stock) for line in view.lines] == [
        (True, "inventory.insufficient_stock", 2),
        (False, "inventory.insufficient_stock", 0),
    ]
    assert selectors.cart_totals(view=view).subtotal == Money(3000, "KRW")


def test_prices_are_read_at_read_time(kr):
    from apps.catalog.models import MarketPrice

    cart, _token = guest_cart()
    _, code = stocked(kr=10000)
    services.cart_item_add(cart=cart, sku_code=code, quantity=1, market=kr)
    MarketPrice.objects.filter(sku__code=code, market_id="KR").update(list_price=15000)

    assert selectors.cart_get(cart=cart, market=kr).lines[0].unit_price == Money(15000, "KRW")


def test_empty_cart_totals(kr):
    totals = selectors.cart_totals(view=selectors.cart_get(cart=None, market=kr), coupon_id="7")

    assert totals.total == Money(0, "KRW") and totals.shipping_fee == Money(0, "KRW")
    assert totals.free_shipping_remaining == Money(19800, "KRW")
    assert totals.coupon == selectors.CouponCheck(valid=False, reason="coupon.not_found")


class FlatFive:
    def quote(self, *, market, merchandise):
        return ShippingQuote(Money(5, market.currency), Money(0, market.currency), Money(0, market.currency))


def test_calculators_are_chosen_in_settings(kr, settings):
    settings.CART_SHIPPING_CALCULATORS = {"KR": "tests.carts.test_totals.FlatFive"}

    totals = _totals(kr, ({"kr": 50000}, 1))

    assert totals.shipping_fee == Money(5, "KRW") and totals.total == Money(50005, "KRW")


def test_a_sku_without_a_us_price_is_priced_by_fx_from_the_base_market(us):
    # 13,855 won at 1 USD = 1,385.50 KRW is exactly $10.00
    cart, _token = guest_cart("US")
    _, code = stocked(kr=13855, us=None, stock={"US": 5})
    services.cart_item_add(cart=cart, sku_code=code, quantity=2, market=us)

    line = selectors.cart_get(cart=cart, market=us).lines[0]

    assert line.unit_price == Money(1000, "USD") and line.line_total == Money(2000, "USD")
