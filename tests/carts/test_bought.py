"""A paid order placed from the cart takes what it bought out of the cart, in the
payment's own transaction (issue 20)."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.carts import services as carts
from apps.carts.models import Cart, CartLine
from apps.catalog.models import Sku
from apps.markets.models import Market
from apps.orders import services as orders
from apps.orders.models import Order
from apps.payments.errors import InsufficientBalance
from tests.carts.factories import member_cart, stocked
from tests.payments.factories import MemberFactory, funded_wallet

ADDR = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}


def _lines(cart) -> list[tuple[str, int]]:
    return list(CartLine.objects.filter(cart=cart).order_by("sku__code").values_list("sku__code", "quantity"))


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
    before = Cart.objects.get(pk=cart.pk).updated_at

    # when the order is paid
    orders.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="p1")

    # then the payment took the bought units out; the unit added since stays, and the cart
    # was touched (its row locked by the same statement)
    assert _lines(cart) == [(sku_a, 1)]
    assert Cart.objects.get(pk=cart.pk).updated_at > before


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

    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert _lines(cart) == [(sku, 2)]


@pytest.mark.django_db(transaction=True)
def test_a_payment_refused_leaves_the_cart_as_it_was():
    # given a cart order and a wallet short of its total
    kr = Market.objects.get(code="KR")
    user = MemberFactory()
    _, sku = stocked(kr=50_000)
    cart = member_cart(user)
    carts.cart_item_add(cart=cart, sku_code=sku, quantity=2, market=kr)
    funded_wallet(user, kr, 1_000)
    order = orders.order_place(
        user=user, market=kr, idempotency_key="u1", from_cart=True, shipping_address=ADDR
    ).order

    # when the payment is refused
    with pytest.raises(InsufficientBalance):
        orders.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="p1")

    # then nothing left the cart (one transaction: the payment and the cart roll back together)
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING
    assert _lines(cart) == [(sku, 2)]


@pytest.mark.django_db(transaction=True)
def test_cart_lines_bought_lowers_partly_bought_lines_and_ignores_members_without_a_cart():
    kr = Market.objects.get(code="KR")
    user = MemberFactory()
    _, sku_a = stocked(kr=1000)
    _, sku_b = stocked(kr=1000)
    cart = member_cart(user)
    carts.cart_item_add(cart=cart, sku_code=sku_a, quantity=5, market=kr)
    carts.cart_item_add(cart=cart, sku_code=sku_b, quantity=1, market=kr)
    a, b = (Sku.objects.get(code=code).pk for code in (sku_a, sku_b))

    with transaction.atomic():
        changed = carts.cart_lines_bought(user_id=user.pk, bought=[(a, 2), (b, 1), (a, 1)])
        nobody = carts.cart_lines_bought(user_id=MemberFactory().pk, bought=[(a, 1)])

    assert (changed, nobody) == (2, 0)
    assert _lines(cart) == [(sku_a, 2)]
