"""The create and pay answers are built from the rows the use-case holds (no re-read of the
order): they must be exactly what reading the order answers, in both languages, for a
multi-line order from the cart paid by wallet (the checkout's path), with a failed payment
attempt before it (never shown)."""

from __future__ import annotations

import uuid

import pytest

from apps.accounts import tokens
from apps.carts import services as cart_services
from apps.markets.models import Market
from apps.orders.models import Order, OrderPayment
from tests.carts.factories import member_cart, stocked
from tests.payments.factories import MemberFactory, funded_wallet

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders"
ADDRESS = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}


def _headers(user, language: str) -> dict[str, str]:
    return {
        "HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user)}",
        "HTTP_IDEMPOTENCY_KEY": f"k-{uuid.uuid4()}",
        "HTTP_X_MARKET": "KR",
        "HTTP_ACCEPT_LANGUAGE": language,
    }


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_create_and_pay_answers_are_the_order_as_read_afterwards(api_client, language):
    # given: a member whose cart holds two SKUs, and a wallet too short at first
    member = MemberFactory()
    (_, first), (_, second) = stocked(kr=12900), stocked(kr=4500)
    cart, kr = member_cart(member), Market.objects.get(code="KR")
    cart_services.cart_item_add(cart=cart, sku_code=first, quantity=2, market=kr)
    cart_services.cart_item_add(cart=cart, sku_code=second, quantity=1, market=kr)

    # when: the order is placed from the cart
    created = api_client.post(
        ORDERS, {"from_cart": True, "shipping_address": ADDRESS}, format="json", **_headers(member, language)
    )

    # then: the answer is the order as read back
    assert created.status_code == 201, created.json()
    path = f"{ORDERS}/{created.json()['id']}"
    read = api_client.get(path, **_headers(member, language))
    assert created.json() == read.json()
    assert [line["position"] for line in created.json()["lines"]] == [1, 2]

    # when: a payment is refused for want of money, then the wallet is funded and it is paid
    refused = api_client.post(
        f"{path}/payments", {"method": "wallet"}, format="json", **_headers(member, language)
    )
    order = Order.objects.get(public_id=created.json()["id"])
    funded_wallet(member, kr, order.total)
    paid = api_client.post(
        f"{path}/payments", {"method": "wallet"}, format="json", **_headers(member, language)
    )

    # then: the pay answer's order is the order as read back (history, payment, receipt)
    assert refused.status_code == 402
    assert paid.status_code == 201, paid.json()
    read = api_client.get(path, **_headers(member, language))
    assert paid.json()["order"] == read.json()
    assert [(c["from_status"], c["to_status"]) for c in read.json()["status_history"]] == [
        (None, "pending"),
        ("pending", "paid"),
    ]
    assert read.json()["receipt"] is not None
    assert OrderPayment.objects.filter(order=order).count() == 1
