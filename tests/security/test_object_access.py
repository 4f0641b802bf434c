"""Issue 24 item 5: another member's objects are not found (404, never 403: a 403 would tell
that the id exists), through every endpoint that takes an id, API and storefront alike, and
the refused request changes nothing.

The owner has a paid order (wallet), a pending order, a saved card, a top-up and an unused
coupon; the intruder is a member of the same market with money in the wallet and a
pending order of their own (so that "pay my order with your card" and "use your coupon on
my order" are asked too). Per-app tests cover some of these one by one
(tests/orders/test_api.py, tests/payments/test_api.py, ...); this module is the list.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from apps.accounts import tokens
from apps.coupons import services as coupon_services
from apps.coupons.models import Coupon
from apps.markets.models import Market
from apps.orders import services as order_services
from apps.orders.models import Order
from apps.payments import services as payment_services
from apps.payments.models import PaymentMethod, Wallet
from tests.accounts.factories import MemberFactory, staff
from tests.carts.factories import stocked
from tests.coupons.factories import active_campaign
from tests.payments.conftest import sandbox  # noqa: F401
from tests.payments.factories import funded_wallet, method_for

pytestmark = pytest.mark.django_db

ADDRESS = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}


@dataclass
class Scene:
    owner: Any
    intruder: Any
    paid: Order
    pending: Order
    intruders_order: Order
    method: PaymentMethod
    top_up_id: str
    coupon: Coupon


def _order(user: Any, sku: str, **extra: Any) -> Order:
    return order_services.order_place(
        user=user,
        market=Market.objects.get(code="KR"),
        idempotency_key=str(uuid.uuid4()),
        items=[{"sku": sku, "quantity": 1}],
        shipping_address=dict(ADDRESS),
        **extra,
    ).order


@pytest.fixture
def scene(sandbox) -> Scene:  # noqa: F811
    kr = Market.objects.get(code="KR")
    owner, intruder = MemberFactory(), MemberFactory()
    _, sku = stocked(kr=12900)
    funded_wallet(owner, kr, 100_000)
    funded_wallet(intruder, kr, 100_000)
    paid = _order(owner, sku)
    order_services.order_pay_wallet(
        order_id=str(paid.public_id), user=owner, idempotency_key=str(uuid.uuid4())
    )
    method = method_for(owner, kr)
    top_up = payment_services.top_up(
        user=owner, market=kr, method_id=method.public_id, amount=1000, request_key=None
    )
    campaign = active_campaign(actor=staff("ops_admin"), total_quantity=10)
    coupon = coupon_services.coupon_claim(campaign_id=campaign.pk, user=owner, market=kr)
    return Scene(
        owner=owner,
        intruder=intruder,
        paid=Order.objects.get(pk=paid.pk),
        pending=_order(owner, sku),
        intruders_order=_order(intruder, sku),
        method=method,
        top_up_id=str(top_up.charge.reference),
        coupon=coupon,
    )


def _state(scene: Scene) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    return (
        tuple(
            Order.objects.filter(pk__in=[scene.paid.pk, scene.pending.pk, scene.intruders_order.pk])
            .order_by("pk")
            .values_list("status", "refunded_amount")
        ),
        tuple(
            Wallet.objects.filter(user__in=[scene.owner, scene.intruder])
            .order_by("pk")
            .values_list("balance", flat=True)
        ),
        PaymentMethod.objects.get(pk=scene.method.pk).status,
        Coupon.objects.get(pk=scene.coupon.pk).status,
    )


# (name, method, path, body, expected problem code); paths name the owner's objects
API_CASES: list[tuple[str, str, Any, Any, str]] = [
    ("read an order", "GET", lambda s: f"/api/v1/orders/{s.paid.public_id}", None, "order.not_found"),
    (
        "pay an order",
        "POST",
        lambda s: f"/api/v1/orders/{s.pending.public_id}/payments",
        {"method": "wallet"},
        "order.not_found",
    ),
    (
        "cancel an order",
        "POST",
        lambda s: f"/api/v1/orders/{s.paid.public_id}/cancel",
        {"reason": "x"},
        "order.not_found",
    ),
    (
        "return an order",
        "POST",
        lambda s: f"/api/v1/orders/{s.paid.public_id}/refunds",
        {"reason": "x"},
        "order.not_found",
    ),
    (
        "read a top-up",
        "GET",
        lambda s: f"/api/v1/wallet/top-ups/{s.top_up_id}",
        None,
        "wallet.top_up_not_found",
    ),
    (
        "remove a saved method",
        "DELETE",
        lambda s: f"/api/v1/payment-methods/{s.method.public_id}",
        None,
        "payment_method.not_found",
    ),
    (
        "top up from their method",
        "POST",
        lambda s: "/api/v1/wallet/top-ups",
        lambda s: {"amount": 1000, "payment_method_id": str(s.method.public_id)},
        "payment_method.not_found",
    ),
    (
        "pay my order with their method",
        "POST",
        lambda s: f"/api/v1/orders/{s.intruders_order.public_id}/payments",
        lambda s: {"method": "payment_method", "payment_method_id": str(s.method.public_id)},
        "payment_method.not_found",
    ),
    (
        "order with their coupon",
        "POST",
        lambda s: "/api/v1/orders",
        lambda s: {
            "items": [{"sku": s.paid.lines.first().sku_code, "quantity": 1}],
            "coupon_id": str(s.coupon.public_id),
            "shipping_address": ADDRESS,
        },
        "coupon.not_found",
    ),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "code"), API_CASES, ids=[c[0] for c in API_CASES])
def test_the_api_answers_404_for_another_members_object(api_client, scene, name, method, path, body, code):
    before = _state(scene)
    data = body(scene) if callable(body) else body

    response = api_client.generic(
        method,
        path(scene),
        data=json.dumps(data) if data is not None else "",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(scene.intruder)}",
        HTTP_IDEMPOTENCY_KEY=f"intruder-{uuid.uuid4()}",
        HTTP_X_MARKET="KR",
    )

    assert (response.status_code, response.json().get("code")) == (404, code), response.content[:300]
    assert _state(scene) == before


# (name, method, path, the same path naming an unknown id)
PAGE_CASES: list[tuple[str, str, Any, str]] = [
    ("order page", "GET", lambda s: f"/orders/{s.paid.public_id}/", "404"),
    ("order complete page", "GET", lambda s: f"/orders/{s.paid.public_id}/complete/", "404"),
    ("receipt", "GET", lambda s: f"/orders/{s.paid.public_id}/receipt/", "404"),
    ("pay form", "POST", lambda s: f"/orders/{s.pending.public_id}/pay", "404"),
    ("cancel form", "POST", lambda s: f"/orders/{s.paid.public_id}/cancel", "404"),
    # a form of the methods page: back to it with "There is no payment method" (PRG), the
    # answer an unknown id gets (tests/payments/test_storefront.py)
    ("remove a saved method", "POST", lambda s: f"/wallet/methods/{s.method.public_id}/remove", "as unknown"),
]


def _page(client: Any, method: str, path: str) -> tuple[int, str | None]:
    response = client.generic(
        method, path, data="method=wallet", content_type="application/x-www-form-urlencoded"
    )
    return response.status_code, response.get("Location")


@pytest.mark.parametrize(("name", "method", "path", "expected"), PAGE_CASES, ids=[c[0] for c in PAGE_CASES])
def test_the_storefront_answers_another_members_object_as_not_found(
    client, scene, name, method, path, expected
):
    before = _state(scene)
    client.force_login(scene.intruder)
    theirs = path(scene)
    unknown = re.sub(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", str(uuid.uuid4()), theirs
    )

    answer = _page(client, method, theirs)

    assert _state(scene) == before
    assert answer == _page(client, method, unknown)
    if expected == "404":
        assert answer[0] == 404, answer


def test_the_owner_reaches_each_of_them(api_client, client, scene):
    """The same paths answer the owner (so a 404 above is about ownership, not the path)."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(scene.owner)}"}
    client.force_login(scene.owner)

    reads = [
        api_client.get(f"/api/v1/orders/{scene.paid.public_id}", **headers),
        api_client.get(f"/api/v1/wallet/top-ups/{scene.top_up_id}", **headers),
        client.get(f"/orders/{scene.paid.public_id}/"),
        client.get(f"/orders/{scene.paid.public_id}/complete/"),
        client.get(f"/orders/{scene.paid.public_id}/receipt/"),
    ]

    assert [r.status_code for r in reads] == [200] * len(reads)
