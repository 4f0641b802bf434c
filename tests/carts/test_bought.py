"""A paid order placed from the cart takes what it bought out of the cart (issue 20)."""

from __future__ import annotations

import pytest

from apps.carts import services as carts
from apps.carts.models import CartLine
from apps.markets.models import Market
from apps.orders import services as orders
from apps.orders.models import Order
from apps.orders.tasks import order_cart_empty_task
from tests.carts.factories import member_cart, stocked
from tests.payments.factories import MemberFactory, funded_wallet

ADDR = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}


@pytest.fixture
def sent(monkeypatch):
    """The cart tasks the payments sent (no broker in the tests)."""
    calls: list[dict] = []
    monkeypatch.setattr(order_cart_empty_task, "delay", lambda **kw: calls.append(kw))
    return calls


def _lines(cart) -> list[tuple[str, int]]:
    return list(CartLine.objects.filter(cart=cart).order_by("sku__code").values_list("sku__code", "quantity"))


@pytest.mark.django_db(transaction=True)
def test_paying_a_cart_order_removes_the_bought_units_and_keeps_the_rest(sent):
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

    # then after commit the payment sent the cart task (the request left the cart alone) ...
    assert sent == [{"order_id": order.pk}]
    assert _lines(cart) == sorted([(sku_a, 3), (sku_b, 1)])

    # ... and the task takes the bought units out; the unit added since stays
    assert order_cart_empty_task(order_id=order.pk) == 2
    assert _lines(cart) == [(sku_a, 1)]


@pytest.mark.django_db(transaction=True)
def test_an_order_of_explicit_items_leaves_the_cart_alone(sent):
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

    # no task sent, and one run anyway (a stray message) changes nothing
    assert sent == []
    assert order_cart_empty_task(order_id=order.pk) == 0
    assert _lines(cart) == [(sku, 2)]


@pytest.mark.django_db(transaction=True)
def test_an_unpaid_cart_order_is_not_taken_from_the_cart_and_a_broker_down_fails_no_payment(monkeypatch):
    # given: a cart order, and a broker that refuses every task
    kr = Market.objects.get(code="KR")
    user = MemberFactory()
    _, sku = stocked(kr=1000)
    cart = member_cart(user)
    carts.cart_item_add(cart=cart, sku_code=sku, quantity=2, market=kr)
    funded_wallet(user, kr, 100_000)
    order = orders.order_place(
        user=user, market=kr, idempotency_key="u1", from_cart=True, shipping_address=ADDR
    ).order

    def down(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(order_cart_empty_task, "delay", down)

    # when: the task runs before payment (a stray message), then the order is paid
    before = order_cart_empty_task(order_id=order.pk)
    orders.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="p1")

    # then: nothing was taken before payment; the payment stands although the task was lost
    assert before == 0
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert _lines(cart) == [(sku, 2)]
