"""A paid order placed from the cart takes what it bought out of the cart (issue 20)."""

from __future__ import annotations

import pytest

from apps.carts import services as carts
from apps.carts.models import CartLine
from apps.markets.models import Market
from apps.orders import services as orders
from tests.carts.factories import member_cart, stocked
from tests.payments.factories import MemberFactory, funded_wallet

ADDR = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}


@pytest.mark.django_db(transaction=True)
def test_paying_a_cart_order_removes_the_bought_units_and_keeps_the_rest():
    # given a member's cart with two SKUs, who orders it
    kr = Market.objects.get(code="KR")
    user = MemberFactory()
    _, sku_a = stocked(kr=1000)
    _, sku_b = stocked(kr=2000)
    cart = member_cart(user)
    carts.cart_item_add(cart=cart, sku_code=sku_a, quantity=2, market=kr)
    carts.cart_item_add(cart=cart, sku_code=sku_b, quantity=1, market=kr)
    funded_wallet(user, kr, 100_000)
    order = orders.order_place(
        user=user, market=kr, idempotency_key="c1", from_cart=True, shipping_address=ADDR
    ).order
    # ... and adds one more of A before paying
    carts.cart_item_update(cart=cart, sku_code=sku_a, quantity=3, market=kr)

    # when the order is paid
    orders.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="p1")

    # then the bought units left the cart; the unit added since stays
    assert list(CartLine.objects.filter(cart=cart).values_list("sku__code", "quantity")) == [(sku_a, 1)]


@pytest.mark.django_db(transaction=True)
def test_an_order_of_explicit_items_leaves_the_cart_alone():
    kr = Market.objects.get(code="KR")
    user = MemberFactory()
    _, sku = stocked(kr=1000)
    cart = member_cart(user)
    carts.cart_item_add(cart=cart, sku_code=sku, quantity=2, market=kr)
    funded_wallet(user, kr, 100_000)
    order = orders.order_place(
        user=user, market=kr, idempotency_key="i1", items=[{"sku": sku, "quantity": 1}], shipping_address=ADDR
    ).order

    orders.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="p1")

    assert list(CartLine.objects.filter(cart=cart).values_list("sku__code", "quantity")) == [(sku, 2)]
