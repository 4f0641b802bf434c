"""Cart API end to end (API.md "Cart"): guest token, member cart, items, totals, merge."""

from __future__ import annotations

import uuid

import pytest

from apps.accounts import tokens
from apps.carts.models import Cart, CartLine
from tests.accounts.factories import MemberFactory, staff, system_client
from tests.carts.factories import stocked

pytestmark = pytest.mark.django_db
ITEMS = "/api/v1/carts/current/items"


def _bearer(user, **extra) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user, extra=extra or None)}"}


def _guest(api_client) -> str:
    response = api_client.post("/api/v1/carts")
    assert response.status_code == 201
    return response["X-Cart-Token"]


def test_guest_cart_is_created_with_an_opaque_token_and_a_random_id(api_client):
    response = api_client.post("/api/v1/carts")

    assert response.status_code == 201
    token = response["X-Cart-Token"]
    body = response.json()
    assert len(token) >= 43
    uuid.UUID(body["id"])  # a UUID, not a sequence number
    cart = Cart.objects.get()
    assert body["id"] != str(cart.pk)
    assert cart.token_hash != token and token not in cart.token_hash  # only the hash is stored
    assert body["items"] == [] and body["market"] == "KR" and body["item_count"] == 0
    assert "no-store" in response["Cache-Control"]


def test_guest_adds_reads_updates_and_removes(api_client):
    _, code = stocked(kr=12900, stock={"KR": 5})
    token = _guest(api_client)
    headers = {"HTTP_X_CART_TOKEN": token}

    added = api_client.post(ITEMS, {"sku": code, "quantity": 2}, format="json", **headers)
    got = api_client.get("/api/v1/carts/current", **headers)
    patched = api_client.patch(f"{ITEMS}/{code}", {"quantity": 3}, format="json", **headers)
    deleted = api_client.delete(f"{ITEMS}/{code}", **headers)

    assert added.status_code == 201
    item = got.json()["items"][0]
    assert item["sku"] == code and item["quantity"] == 2 and item["available"] is True
    assert item["unit_price"] == {"amount": 12900, "currency": "KRW", "display": "₩12,900"}
    assert item["line_total"]["amount"] == 25800 and item["issue"] is None and item["max_per_order"] == 10
    assert got.json()["totals"]["total"]["amount"] == 25800
    assert "no-store" in got["Cache-Control"]  # a guest GET carries no Authorization header
    assert patched.status_code == 200 and patched.json()["items"][0]["quantity"] == 3
    assert deleted.status_code == 200 and deleted.json()["items"] == []


def test_first_add_without_a_token_creates_the_guest_cart(api_client):
    _, code = stocked()

    response = api_client.post(ITEMS, {"sku": code, "quantity": 1}, format="json")

    assert response.status_code == 201
    token = response["X-Cart-Token"]
    again = api_client.get("/api/v1/carts/current", HTTP_X_CART_TOKEN=token)
    assert [i["sku"] for i in again.json()["items"]] == [code]


def test_guest_without_a_token_reads_an_empty_cart(api_client):
    body = api_client.get("/api/v1/carts/current").json()

    assert body["id"] is None and body["items"] == [] and body["totals"]["total"]["amount"] == 0


def test_unknown_token_is_cart_not_found(api_client):
    response = api_client.get("/api/v1/carts/current", HTTP_X_CART_TOKEN="made-up-token")

    assert response.status_code == 404
    assert response.json()["code"] == "cart.not_found"


@pytest.mark.parametrize("quantity", [0, -1, "2", 1.5, 10**30, True, None, [1]])
def test_bad_quantities_are_quantity_invalid_and_create_nothing(api_client, quantity):
    _, code = stocked()

    response = api_client.post(ITEMS, {"sku": code, "quantity": quantity}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "cart.quantity_invalid"
    assert Cart.objects.count() == 0 and CartLine.objects.count() == 0


def test_errors_are_problems_in_the_request_language(api_client):
    _, code = stocked(max_per_order=3)
    token = _guest(api_client)

    en = api_client.post(
        ITEMS, {"sku": code, "quantity": 4}, format="json", HTTP_X_CART_TOKEN=token, HTTP_ACCEPT_LANGUAGE="en"
    )
    ko = api_client.post(
        ITEMS, {"sku": code, "quantity": 4}, format="json", HTTP_X_CART_TOKEN=token, HTTP_ACCEPT_LANGUAGE="ko"
    )

    assert en.status_code == 422 and en["Content-Type"].startswith("application/problem+json")
    assert en.json()["code"] == "cart.purchase_limit_exceeded" and en.json()["limit"] == 3
    assert en.json()["detail"] == f"You can buy at most 3 of {code} per order."
    assert ko.json()["detail"] == f"{code} 상품은 한 번에 최대 3개까지 구매할 수 있습니다."


def test_insufficient_stock_is_409_with_the_available_quantity(api_client):
    _, code = stocked(stock={"KR": 2})

    response = api_client.post(ITEMS, {"sku": code, "quantity": 3}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "inventory.insufficient_stock"
    assert body["items"] == [{"sku": code, "requested": 3, "available": 2}]


def test_member_cart_is_shared_between_api_and_session(api_client, client):
    member = MemberFactory()
    _, code = stocked()

    api_client.post(ITEMS, {"sku": code, "quantity": 2}, format="json", **_bearer(member))
    client.force_login(member)
    via_session = client.get("/api/v1/carts/current")

    assert via_session.status_code == 200
    assert [(i["sku"], i["quantity"]) for i in via_session.json()["items"]] == [(code, 2)]
    assert Cart.objects.filter(user=member).count() == 1


def test_member_post_carts_answers_their_own_cart_without_a_token(api_client):
    member = MemberFactory()

    first = api_client.post("/api/v1/carts", **_bearer(member))
    second = api_client.post("/api/v1/carts", **_bearer(member))

    assert first.status_code == 200 and "X-Cart-Token" not in first
    assert first.json()["id"] == second.json()["id"]


def test_market_switch_reprices_and_flags(api_client):
    _, both = stocked(kr=10000, us=1000, stock={"KR": 5, "US": 5})
    _, kr_only = stocked(kr=20000, us=2000, stock={"KR": 5})
    token = _guest(api_client)
    for code in (both, kr_only):
        api_client.post(ITEMS, {"sku": code, "quantity": 1}, format="json", HTTP_X_CART_TOKEN=token)

    us = api_client.get("/api/v1/carts/current", HTTP_X_CART_TOKEN=token, HTTP_X_MARKET="US").json()

    assert us["market"] == "US" and us["currency"] == "USD"
    by_sku = {i["sku"]: i for i in us["items"]}
    assert by_sku[both]["unit_price"]["amount"] == 1000 and by_sku[both]["available"] is True
    assert by_sku[kr_only]["available"] is False
    assert by_sku[kr_only]["issue"]["code"] == "cart.sku_unavailable"
    assert by_sku[kr_only]["quantity"] == 1  # kept
    assert us["totals"]["subtotal"] == {"amount": 1000, "currency": "USD", "display": "$10.00"}


def test_a_guest_s_coupon_id_is_never_found(api_client):
    # a guest has no coupons (a member's are checked in tests/carts/test_coupon_check.py)
    _, code = stocked(kr=10000)
    token = _guest(api_client)
    api_client.post(ITEMS, {"sku": code, "quantity": 1}, format="json", HTTP_X_CART_TOKEN=token)

    body = api_client.get("/api/v1/carts/current/totals?coupon_id=42", HTTP_X_CART_TOKEN=token).json()
    plain = api_client.get("/api/v1/carts/current/totals", HTTP_X_CART_TOKEN=token).json()

    assert body["coupon"] == {
        "valid": False,
        "code": None,
        "reason": "coupon.not_found",
        "discount": None,
        "message": None,
    }
    assert plain["coupon"] is None
    assert body["subtotal"]["amount"] == 10000
    assert body["shipping_fee"]["amount"] == 3000 and body["free_shipping_remaining"]["amount"] == 9800
    assert body["estimated_tax"]["amount"] == 909 and body["tax_included"] is True
    assert body["total"]["amount"] == 13000


def test_merge_endpoint_sums_caps_and_consumes_the_guest_cart(api_client):
    member = MemberFactory()
    _, code = stocked(max_per_order=5)
    token = _guest(api_client)
    api_client.post(ITEMS, {"sku": code, "quantity": 4}, format="json", HTTP_X_CART_TOKEN=token)
    api_client.post(ITEMS, {"sku": code, "quantity": 3}, format="json", **_bearer(member))

    response = api_client.post("/api/v1/carts/current/merge", HTTP_X_CART_TOKEN=token, **_bearer(member))

    assert response.status_code == 200
    body = response.json()
    assert [(i["sku"], i["quantity"]) for i in body["cart"]["items"]] == [(code, 5)]
    assert [(n["sku"], n["requested"], n["quantity"], n["reason"]) for n in body["notices"]] == [
        (code, 7, 5, "cart.purchase_limit_exceeded")
    ]
    assert not Cart.objects.filter(user__isnull=True).exists()
    again = api_client.post("/api/v1/carts/current/merge", HTTP_X_CART_TOKEN=token, **_bearer(member))
    assert again.status_code == 404 and again.json()["code"] == "cart.not_found"


def test_merge_needs_a_token_and_a_member(api_client):
    member = MemberFactory()

    no_token = api_client.post("/api/v1/carts/current/merge", **_bearer(member))
    guest = api_client.post("/api/v1/carts/current/merge", HTTP_X_CART_TOKEN="x")

    assert no_token.status_code == 400 and no_token.json()["code"] == "cart.token_required"
    assert guest.status_code == 401 and guest.json()["code"] == "auth.login_required"


def test_staff_and_system_clients_get_403(api_client):
    client, _ = system_client("carts dp")
    dp = api_client.get(
        "/api/v1/carts/current", **_bearer(client.user, client_id=client.client_id, roles=["data_platform"])
    )
    agent = api_client.get("/api/v1/carts/current", **_bearer(staff("cs_agent")))

    assert dp.status_code == 403 and dp.json()["code"] == "auth.permission_denied"
    assert agent.status_code == 403


def test_bad_sku_in_the_path_is_request_invalid(api_client):
    token = _guest(api_client)

    response = api_client.patch(f"{ITEMS}/a%20b", {"quantity": 1}, format="json", HTTP_X_CART_TOKEN=token)

    assert response.status_code == 400 and response.json()["code"] == "request.invalid"


def test_patch_of_a_sku_not_in_the_cart_is_item_not_found(api_client):
    token = _guest(api_client)

    response = api_client.patch(f"{ITEMS}/NOPE-1", {"quantity": 1}, format="json", HTTP_X_CART_TOKEN=token)

    assert response.status_code == 404 and response.json()["code"] == "cart.item_not_found"


def test_cart_read_costs_the_same_queries_for_one_line_or_ten(api_client, django_assert_num_queries):
    codes = [stocked()[1] for _ in range(10)]
    token = _guest(api_client)
    api_client.post(ITEMS, {"sku": codes[0], "quantity": 1}, format="json", HTTP_X_CART_TOKEN=token)
    with django_assert_num_queries(QUERIES):
        api_client.get("/api/v1/carts/current", HTTP_X_CART_TOKEN=token)
    for code in codes[1:]:
        api_client.post(ITEMS, {"sku": code, "quantity": 1}, format="json", HTTP_X_CART_TOKEN=token)

    with django_assert_num_queries(QUERIES):
        body = api_client.get("/api/v1/carts/current", HTTP_X_CART_TOKEN=token).json()

    assert len(body["items"]) == 10


#: The cart (by token hash), its lines, the SKUs with their products, their prices, availability.
QUERIES = 5


@pytest.mark.parametrize("sku", ["NOPE-1", 5])
def test_a_refused_first_add_leaves_no_guest_cart_behind(api_client, sku):
    response = api_client.post(ITEMS, {"sku": sku, "quantity": 1}, format="json")

    assert response.status_code == 422 and response.json()["code"] == "cart.sku_unavailable"
    assert "X-Cart-Token" not in response
    assert Cart.objects.count() == 0 and CartLine.objects.count() == 0


def test_a_refused_add_keeps_an_existing_guest_cart(api_client):
    token = _guest(api_client)

    response = api_client.post(
        ITEMS, {"sku": "NOPE-1", "quantity": 1}, format="json", HTTP_X_CART_TOKEN=token
    )

    assert response.status_code == 422
    assert api_client.get("/api/v1/carts/current", HTTP_X_CART_TOKEN=token).status_code == 200
    assert Cart.objects.count() == 1
