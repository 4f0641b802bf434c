"""Orders API end to end (API.md "Orders and payments"): place (items, cart, idempotent),
pay (wallet, saved method through the sandbox provider), read, cancel, return, and the staff
transition endpoint, with every error code the views document."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from apps.accounts import tokens
from apps.carts import services as cart_services
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation, StockLevel
from apps.markets.models import Market
from apps.orders import services
from apps.orders.models import Order, OrderPayment
from apps.payments.models import Wallet, WalletEntry
from tests.carts.factories import member_cart, stocked
from tests.payments.conftest import sandbox  # noqa: F401
from tests.payments.factories import MemberFactory, funded_wallet, ledger_sum, method_for, staff

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders"
KR_ADDRESS = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}
US_ADDRESS = {
    "recipient": "Jane Doe",
    "line1": "350 Fifth Avenue",
    "city": "New York",
    "region": "NY",
    "postal_code": "10118",
    "country": "US",
}
#: A fault delay past the sandbox fixture's 1 s read timeout.
PAST_TIMEOUT = 1.5


def _bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user)}"}


def _key(value: str | None = None) -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": value or f"k-{uuid.uuid4()}"}


def _market(code: str = "KR") -> Market:
    return Market.objects.get(code=code)


def _post(api_client, path, body, user, *, key: str | None = None, idempotent: bool = True, **headers):
    extra = {**_bearer(user), **headers}
    if idempotent:
        extra.update(_key(key))
    return api_client.post(path, body, format="json", **extra)


def _place(api_client, user, items, *, market: str = "KR", **body):
    address = KR_ADDRESS if market == "KR" else US_ADDRESS
    return _post(
        api_client,
        ORDERS,
        {"items": items, "shipping_address": address, **body},
        user,
        HTTP_X_MARKET=market,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def _order_via_service(user, sku: str, quantity: int = 1, market: str = "KR") -> Order:
    return services.order_place(
        user=user,
        market=_market(market),
        idempotency_key=str(uuid.uuid4()),
        items=[{"sku": sku, "quantity": quantity}],
        shipping_address=KR_ADDRESS if market == "KR" else US_ADDRESS,
    ).order


def _paid(user, sku: str, quantity: int = 1, market: str = "KR") -> Order:
    order = _order_via_service(user, sku, quantity, market)
    funded_wallet(user, _market(market), order.total)
    services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key=str(uuid.uuid4()))
    order.refresh_from_db()
    return order


def _fulfilled(user, sku: str, quantity: int = 1) -> Order:
    order = _paid(user, sku, quantity)
    services.order_transition(
        order_id=str(order.public_id),
        to_status="fulfilled",
        actor=staff("ops_admin"),
        reason="shipped",
        markets=["KR"],
    )
    order.refresh_from_db()
    return order


def _available(sku: str, market: str = "KR") -> tuple[int, int]:
    level = StockLevel.objects.get(sku__code=sku, warehouse__market_id=market)
    return level.on_hand, level.reserved


def _balance(user, market: str = "KR") -> int:
    wallet = Wallet.objects.filter(user=user, market_id=market).first()
    return wallet.balance if wallet is not None else 0


def _problem(response, status: int, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.json()


# --- POST /orders ------------------------------------------------------------------------------


def test_a_member_places_an_order_of_items_and_gets_it_pending_with_its_pay_by_time(api_client):
    # given: two products in stock in KR; a member reading English
    member = MemberFactory(locale="en")
    _, sku1 = stocked(kr=12900, name_en="Mug", name_ko="머그")
    _, sku2 = stocked(kr=3300)

    # when
    response = _place(api_client, member, [{"sku": sku1, "quantity": 2}, {"sku": sku2, "quantity": 1}])

    # then: 201, PENDING, lines snapshotted, money objects, stock held
    assert response.status_code == 201, response.json()
    body = response.json()
    order = Order.objects.get(user=member)
    assert body["id"] == str(order.public_id)
    assert body["number"] == order.number and body["number"].startswith("KR-")
    assert (body["status"], body["market"], body["currency"]) == ("pending", "KR", "KRW")
    assert body["subtotal"] == {"amount": 29100, "currency": "KRW", "display": "₩29,100"}
    assert body["total"] == {"amount": 29100, "currency": "KRW", "display": "₩29,100"}
    assert body["tax"]["amount"] == 2645  # the VAT included in the prices (10/110)
    assert body["shipping_fee"]["amount"] == 0  # over the free-shipping threshold
    assert sum(line["line_total"]["amount"] for line in body["lines"]) == order.total == 29100
    assert body["tax_included"] is True
    first = body["lines"][0]
    assert (first["position"], first["sku"], first["name"], first["quantity"]) == (1, sku1, "Mug", 2)
    assert first["unit_price"] == {"amount": 12900, "currency": "KRW", "display": "₩12,900"}
    assert first["refunded_quantity"] == 0
    assert body["expires_at"] == order.expires_at.isoformat().replace("+00:00", "Z")
    assert (body["payment"], body["refunds"], body["receipt"], body["paid_at"]) == (None, [], None, None)
    assert body["shipping_address"]["recipient"] == "김민지"
    assert body["status_history"] == [
        {
            "from_status": None,
            "to_status": "pending",
            "actor_kind": "member",
            "reason": "",
            "at": body["created_at"],
        }
    ]
    assert _available(sku1) == (50, 2)
    assert "no-store" in response["Cache-Control"]


def test_an_order_from_the_cart_uses_the_profile_address_when_none_is_given(api_client):
    # given: a member whose cart holds 3 units and whose profile has a default address
    member = MemberFactory(default_address={**KR_ADDRESS, "recipient": "홍길동"})
    _, sku = stocked(kr=5000)
    cart_services.cart_item_add(cart=member_cart(member), sku_code=sku, quantity=3, market=_market())

    # when
    response = _post(api_client, ORDERS, {"from_cart": True}, member)

    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [(line["sku"], line["quantity"]) for line in body["lines"]] == [(sku, 3)]
    assert body["shipping_address"]["recipient"] == "홍길동"
    assert _available(sku) == (50, 3)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"items": []}, 400, "order.items_invalid"),
        ({"items": [{"sku": "SKU", "quantity": 0}]}, 400, "order.items_invalid"),
        ({"items": [{"sku": "SKU", "quantity": "2"}]}, 400, "order.items_invalid"),
        ({}, 400, "order.items_invalid"),
        ({"from_cart": "yes"}, 400, "order.items_invalid"),
        ({"items": "ADDRESS_MISSING"}, 400, "order.address_required"),
        ({"from_cart": True}, 422, "order.empty"),
        ({"items": [{"sku": "NOPE-1", "quantity": 1}]}, 422, "cart.sku_unavailable"),
        ({"items": [{"sku": "SKU", "quantity": 11}]}, 422, "cart.purchase_limit_exceeded"),
        ({"items": [{"sku": "SKU", "quantity": 6}], "stock": 5}, 409, "inventory.insufficient_stock"),
        ({"items": [{"sku": "SKU", "quantity": 1}], "coupon_id": "WELCOME"}, 404, "coupon.not_found"),
    ],
)
def test_a_refused_order_answers_its_code_and_places_nothing(api_client, body, status, code):
    # given: a product (max 10 per order) with `stock` units; a member without a default address
    member = MemberFactory(default_address=None)
    _, sku = stocked(kr=12900, stock={"KR": body.pop("stock", 50)})
    if body.get("items") == "ADDRESS_MISSING":
        body = {"items": [{"sku": sku, "quantity": 1}]}
    else:
        body.setdefault("shipping_address", KR_ADDRESS)
    for item in body.get("items") or []:
        if isinstance(item, dict) and item.get("sku") == "SKU":
            item["sku"] = sku

    # when
    response = _post(api_client, ORDERS, body, member)

    # then
    _problem(response, status, code)
    assert Order.objects.count() == 0
    assert _available(sku)[1] == 0


def test_guests_get_401_and_staff_403(api_client):
    guest = api_client.post(ORDERS, {"from_cart": True}, format="json", **_key())
    cs = _post(api_client, ORDERS, {"from_cart": True}, staff("cs_agent"))

    _problem(guest, 401, "auth.login_required")
    _problem(cs, 403, "auth.permission_denied")


def test_the_same_key_replays_the_order_and_another_body_is_key_reused(api_client):
    # given: an order placed with key "order-1"
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    body = {"items": [{"sku": sku, "quantity": 1}], "shipping_address": KR_ADDRESS}
    first = _post(api_client, ORDERS, body, member, key="order-1")

    # when: the same request again, the same key with another body, and no key at all
    again = _post(api_client, ORDERS, body, member, key="order-1")
    other = _post(api_client, ORDERS, {**body, "items": [{"sku": sku, "quantity": 2}]}, member, key="order-1")
    keyless = _post(api_client, ORDERS, body, member, idempotent=False)

    # then: one order, one reservation; the replay is the stored 201
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    _problem(other, 422, "idempotency.key_reused")
    _problem(keyless, 400, "idempotency.key_required")
    assert Order.objects.count() == 1
    assert _available(sku) == (50, 1)


# --- POST /orders/{id}/payments -------------------------------------------------------------------


def _pay(api_client, user, order: Order, body=None, *, key: str | None = None):
    return _post(
        api_client, f"{ORDERS}/{order.public_id}/payments", body or {"method": "wallet"}, user, key=key
    )


def test_paying_by_wallet_debits_the_total_and_marks_the_order_paid(api_client):
    # given: a pending order and a wallet holding more than its total
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku, 2)
    wallet = funded_wallet(member, _market(), 100_000)

    # when: paid, and the same request sent again
    response = _pay(api_client, member, order, key="pay-1")
    replay = _pay(api_client, member, order, key="pay-1")

    # then: 201 captured; wallet down by the total with a payment ledger row; stock deducted;
    # the replay is the stored answer and debits nothing more
    assert response.status_code == 201, response.json()
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")
    assert replay.json() == response.json()
    body = response.json()
    payment = OrderPayment.objects.get(order=order)
    assert (body["id"], body["method"], body["status"]) == (str(payment.public_id), "wallet", "captured")
    assert body["amount"]["amount"] == order.total
    assert body["captured_at"] is not None
    assert body["order"]["status"] == "paid"
    assert body["order"]["payment"]["method"] == "wallet"
    wallet.refresh_from_db()
    assert wallet.balance == 100_000 - order.total == ledger_sum(wallet)
    entry = WalletEntry.objects.get(wallet=wallet, kind=WalletEntry.Kind.PAYMENT)
    assert (entry.amount, entry.reference) == (-order.total, f"order:{order.public_id}:payment")
    assert _available(sku) == (48, 0)


def test_a_short_wallet_is_402_and_the_order_stays_payable(api_client):
    # given: a pending order and a wallet 1 won short
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku)
    funded_wallet(member, _market(), order.total - 1)

    # when
    refused = _pay(api_client, member, order)

    # then: nothing changed
    _problem(refused, 402, "wallet.insufficient_balance")
    order.refresh_from_db()
    assert order.status == "pending"
    assert _balance(member) == order.total - 1
    assert OrderPayment.objects.filter(order=order).count() == 0
    assert _available(sku) == (50, 1)

    # when: topped up by 1 won, paid with a new key
    funded_wallet(member, _market(), 1)
    paid = _pay(api_client, member, order)

    # then
    assert paid.status_code == 201
    assert _balance(member) == 0


def test_paying_a_paid_order_again_is_409_not_payable(api_client):
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _paid(member, sku)
    funded_wallet(member, _market(), 50_000)

    response = _pay(api_client, member, order)

    _problem(response, 409, "order.not_payable")
    assert _balance(member) == 50_000
    assert OrderPayment.objects.filter(order=order).count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"method": "cash"}, 400, "request.invalid"),
        ({"method": "payment_method"}, 400, "request.invalid"),
        (
            {"method": "payment_method", "payment_method_id": str(uuid.UUID(int=7))},
            404,
            "payment_method.not_found",
        ),
    ],
)
def test_a_malformed_payment_is_refused(api_client, body, status, code):
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku)

    response = _pay(api_client, member, order, body)

    _problem(response, status, code)
    order.refresh_from_db()
    assert order.status == "pending"
    assert OrderPayment.objects.filter(order=order).count() == 0


def test_an_expired_hold_whose_units_were_sold_is_409_reservation_expired(api_client):
    # given: the only unit held by an order whose hold ran out, then held by another order
    member, rival = MemberFactory(), MemberFactory()
    _, sku = stocked(kr=12900, stock={"KR": 1})
    order = _order_via_service(member, sku)
    past = order.expires_at - dt.timedelta(hours=1)
    Reservation.objects.filter(owner=order.owner).update(expires_at=past)
    _order_via_service(rival, sku)
    funded_wallet(member, _market(), 100_000)

    # when
    response = _pay(api_client, member, order)

    # then: nothing taken
    _problem(response, 409, "inventory.reservation_expired")
    order.refresh_from_db()
    assert (order.status, _balance(member), _available(sku)) == ("pending", 100_000, (1, 1))


def test_a_method_of_another_market_is_refused(api_client, sandbox):  # noqa: F811
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku)
    us_method = method_for(member, _market("US"))

    response = _pay(
        api_client, member, order, {"method": "payment_method", "payment_method_id": str(us_method.public_id)}
    )

    _problem(response, 422, "payment_method.market_mismatch")
    order.refresh_from_db()
    assert order.status == "pending"
    assert OrderPayment.objects.filter(order=order).count() == 0


def test_another_members_order_or_a_bad_id_is_404(api_client):
    owner, other = MemberFactory(), MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(owner, sku)
    funded_wallet(other, _market(), 100_000)

    pay = _pay(api_client, other, order)
    read = api_client.get(f"{ORDERS}/{order.public_id}", **_bearer(other))
    cancel = _post(api_client, f"{ORDERS}/{order.public_id}/cancel", {}, other, idempotent=False)
    bad = api_client.get(f"{ORDERS}/not-a-uuid", **_bearer(owner))

    for response in (pay, read, cancel, bad):
        _problem(response, 404, "order.not_found")
    order.refresh_from_db()
    assert order.status == "pending"
    assert _balance(other) == 100_000


def test_paying_with_a_saved_method_through_the_provider(api_client, sandbox):  # noqa: F811
    # given: a pending order and a saved card the sandbox approves
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku)
    method = method_for(member, _market())

    # when
    response = _pay(
        api_client, member, order, {"method": "payment_method", "payment_method_id": str(method.public_id)}
    )

    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["method"], body["status"], body["amount"]["amount"]) == (
        "payment_method",
        "captured",
        order.total,
    )
    assert body["order"]["status"] == "paid"
    assert sandbox.stats()["charges_applied"] and set(sandbox.stats()["charges_applied"].values()) == {1}
    assert _available(sku) == (49, 0)


def test_a_declined_card_is_402_and_the_order_stays_pending(api_client, sandbox):  # noqa: F811
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku)
    method = method_for(member, _market(), last4="0051")

    response = _pay(
        api_client, member, order, {"method": "payment_method", "payment_method_id": str(method.public_id)}
    )

    _problem(response, 402, "payment.declined")
    order.refresh_from_db()
    assert order.status == "pending"
    assert list(OrderPayment.objects.filter(order=order).values_list("status", flat=True)) == ["failed"]
    assert _available(sku) == (50, 1)


def test_a_provider_outage_is_503_and_a_timeout_202_pending(api_client, sandbox):  # noqa: F811
    # given: two pending orders of a member with a saved card
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    down, slow = _order_via_service(member, sku), _order_via_service(member, sku)
    method = method_for(member, _market())
    body = {"method": "payment_method", "payment_method_id": str(method.public_id)}

    # when: the provider answers 503
    sandbox.set_fault("fail")
    unavailable = _pay(api_client, member, down, body)

    # then: 503, nothing captured
    _problem(unavailable, 503, "payment.provider_unavailable")
    down.refresh_from_db()
    assert down.status == "pending"

    # when: the provider applies the charge but answers after the timeout
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    pending = _pay(api_client, member, slow, body)

    # then: 202 pending, the order to poll in Location; a wallet payment meanwhile is refused
    assert pending.status_code == 202, pending.json()
    assert (pending.json()["status"], pending.json()["order"]["status"]) == ("pending", "pending")
    assert pending["Location"] == f"/api/v1/orders/{slow.public_id}"
    funded_wallet(member, _market(), 100_000)
    _problem(_pay(api_client, member, slow), 409, "order.payment_pending")
    _problem(
        _post(api_client, f"{ORDERS}/{slow.public_id}/cancel", {}, member, idempotent=False),
        409,
        "order.payment_pending",
    )
    assert _balance(member) == 100_000
    slow.refresh_from_db()
    assert slow.status == "pending"


# --- GET /orders, GET /orders/{id} ----------------------------------------------------------------


def test_the_list_shows_only_the_members_orders_newest_first_in_a_pinned_number_of_queries(
    api_client, django_assert_num_queries
):
    # given: three orders of the member (one paid) and one of somebody else
    member, other = MemberFactory(), MemberFactory()
    _, sku = stocked(kr=12900)
    first = _order_via_service(member, sku)
    second = _paid(member, sku)
    third = _order_via_service(member, sku, 2)
    _order_via_service(other, sku)
    headers = {**_bearer(member), "HTTP_ACCEPT_LANGUAGE": "en"}
    api_client.get(ORDERS, **headers)  # warm the per-process caches (markets, permissions)

    # when: the user with the member check (one query), the page, its lines, history, payments, refunds
    with django_assert_num_queries(6):
        response = api_client.get(ORDERS, **headers)
    pending = api_client.get(ORDERS, {"status": "pending"}, **headers)
    invalid = api_client.get(ORDERS, {"status": "shipped"}, **headers)

    # then
    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["results"]] == [str(o.public_id) for o in (third, second, first)]
    assert (body["next"], body["previous"]) == (None, None)
    assert body["results"][1]["payment"]["status"] == "captured"
    assert [o["id"] for o in pending.json()["results"]] == [str(third.public_id), str(first.public_id)]
    _problem(invalid, 400, "request.invalid")
    assert invalid.json()["errors"][0]["field"] == "status"


def test_the_query_count_does_not_grow_with_the_orders(api_client, django_assert_num_queries):
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    _paid(member, sku)
    headers = _bearer(member)
    for _ in range(3):
        _paid(member, sku)
    api_client.get(ORDERS, **headers)

    with django_assert_num_queries(6):
        response = api_client.get(ORDERS, **headers)

    assert len(response.json()["results"]) == 4


def test_line_names_follow_the_request_language(api_client):
    # given: a member without a language preference in the profile (the profile wins over
    # Accept-Language when it has one)
    member = MemberFactory(locale="")
    _, sku = stocked(kr=12900, name_ko="머그컵", name_en="Mug")
    order = _order_via_service(member, sku)

    ko = api_client.get(f"{ORDERS}/{order.public_id}", HTTP_ACCEPT_LANGUAGE="ko", **_bearer(member))
    en = api_client.get(f"{ORDERS}/{order.public_id}", HTTP_ACCEPT_LANGUAGE="en", **_bearer(member))

    assert ko.json()["lines"][0]["name"] == "머그컵"
    assert en.json()["lines"][0]["name"] == "Mug"
    assert ko["Content-Language"] == "ko"


def test_a_kr_paid_order_has_a_receipt_whose_vat_and_supply_add_up(api_client):
    member = MemberFactory(name="김민지")
    _, sku = stocked(kr=12900, name_ko="머그컵", name_en="Mug")
    order = _paid(member, sku, 3)

    body = api_client.get(f"{ORDERS}/{order.public_id}", HTTP_ACCEPT_LANGUAGE="ko", **_bearer(member)).json()

    receipt = body["receipt"]
    assert receipt["number"] == f"R-{order.number}"
    assert receipt["buyer_name"] == "김민지"
    assert receipt["business"]["name"]
    assert [(line["name"], line["quantity"]) for line in receipt["lines"]] == [("머그컵", 3)]
    assert receipt["total"] == {"amount": 38700, "currency": "KRW", "display": "₩38,700"}
    assert (receipt["vat"]["amount"], receipt["supply_amount"]["amount"]) == (3518, 35182)
    assert receipt["vat"]["amount"] + receipt["supply_amount"]["amount"] == order.total
    # the items are the goods; shipping is its own row; together they are what was paid
    goods = sum(line["amount"]["amount"] for line in receipt["lines"])
    assert goods + receipt["shipping_fee"]["amount"] == order.total
    assert receipt["payment_method"] == "wallet"


def test_a_us_paid_order_has_no_receipt(api_client):
    member = MemberFactory()
    _, sku = stocked(us=999)
    order = _paid(member, sku, market="US")

    body = api_client.get(f"{ORDERS}/{order.public_id}", HTTP_X_MARKET="US", **_bearer(member)).json()

    assert (body["status"], body["currency"], body["receipt"]) == ("paid", "USD", None)


# --- POST /orders/{id}/cancel ---------------------------------------------------------------------


def test_cancelling_a_paid_order_refunds_the_wallet_and_restocks(api_client):
    # given: a paid order of 2 units
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _paid(member, sku, 2)
    assert (_balance(member), _available(sku)) == (0, (48, 0))

    # when
    response = _post(
        api_client,
        f"{ORDERS}/{order.public_id}/cancel",
        {"reason": "changed my mind"},
        member,
        idempotent=False,
    )

    # then: cancelled, the whole total back in the wallet, the units back on hand
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["refunded_amount"]["amount"] == order.total
    assert [(r["amount"]["amount"], r["destination"], r["status"]) for r in body["refunds"]] == [
        (order.total, "wallet", "succeeded")
    ]
    assert body["status_history"][-1]["reason"] == "changed my mind"
    assert body["payment"]["status"] == "refunded"
    wallet = Wallet.objects.get(user=member)
    assert wallet.balance == order.total == ledger_sum(wallet)
    assert _available(sku) == (50, 0)


def test_a_fulfilled_order_is_not_cancellable(api_client):
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _fulfilled(member, sku)

    response = _post(api_client, f"{ORDERS}/{order.public_id}/cancel", {}, member, idempotent=False)

    _problem(response, 409, "order.not_cancellable")
    order.refresh_from_db()
    assert (order.status, order.refunded_amount, _balance(member)) == ("fulfilled", 0, 0)


# --- POST /orders/{id}/refunds --------------------------------------------------------------------


def test_returning_one_unit_then_the_rest_refunds_exactly_the_total(api_client):
    # given: a fulfilled order of 3 units
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _fulfilled(member, sku, 3)
    path = f"{ORDERS}/{order.public_id}/refunds"

    # when: one unit, replayed with the same key, then the rest
    one = _post(
        api_client, path, {"reason": "broken", "lines": [{"line": 1, "quantity": 1}]}, member, key="r1"
    )
    replay = _post(
        api_client, path, {"reason": "broken", "lines": [{"line": 1, "quantity": 1}]}, member, key="r1"
    )
    rest = _post(api_client, path, {"reason": "the rest"}, member, key="r2")

    # then
    assert (one.status_code, rest.status_code) == (201, 201), (one.json(), rest.json())
    assert replay.json() == one.json() and replay["Idempotent-Replayed"] == "true"
    first = one.json()
    assert (first["destination"], first["status"], first["order"]["status"]) == (
        "wallet",
        "succeeded",
        "fulfilled",
    )
    assert first["lines"][0]["line"] == 1 and first["lines"][0]["quantity"] == 1
    assert first["amount"]["amount"] + rest.json()["amount"]["amount"] == order.total
    assert rest.json()["order"]["status"] == "refunded"
    assert rest.json()["order"]["lines"][0]["refunded_quantity"] == 3
    assert _balance(member) == order.total


@pytest.mark.parametrize(
    ("state", "body", "status", "code"),
    [
        ("pending", {"reason": "x"}, 409, "order.invalid_transition"),
        ("closed", {"reason": "x"}, 409, "order.return_window_closed"),
        ("fulfilled", {"reason": "x", "lines": [{"line": 9, "quantity": 1}]}, 422, "order.refund_invalid"),
        ("fulfilled", {"reason": "x", "lines": [{"line": 1, "quantity": 2}]}, 422, "order.refund_invalid"),
        ("fulfilled", {"lines": [{"line": 1}]}, 400, "request.invalid"),
    ],
)
def test_a_refused_return_refunds_nothing(api_client, state, body, status, code):
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku) if state == "pending" else _fulfilled(member, sku)
    if state == "closed":
        Order.objects.filter(pk=order.pk).update(fulfilled_at=order.fulfilled_at - dt.timedelta(days=8))

    response = _post(api_client, f"{ORDERS}/{order.public_id}/refunds", body, member)

    _problem(response, status, code)
    order.refresh_from_db()
    assert (order.refunded_amount, order.refunds.count(), _balance(member)) == (0, 0, 0)


# --- POST /internal/orders/{id}/transitions -------------------------------------------------------


def _transition(api_client, actor, order: Order, to_status: str, reason: str = "audited"):
    return _post(
        api_client,
        f"/api/v1/internal/orders/{order.public_id}/transitions",
        {"to_status": to_status, "reason": reason},
        actor,
        idempotent=False,
    )


def test_cs_fulfils_a_paid_order(api_client):
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _paid(member, sku)

    response = _transition(api_client, staff("cs_agent"), order, "fulfilled", "shipped by CJ")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "fulfilled" and body["fulfilled_at"] is not None
    assert body["status_history"][-1] == {
        "from_status": "paid",
        "to_status": "fulfilled",
        "actor_kind": "staff",
        "reason": "shipped by CJ",
        "at": body["fulfilled_at"],
    }
    assert OutboxEvent.objects.filter(type="order.fulfilled", aggregate_id=str(order.public_id)).count() == 1


def test_ops_forces_a_pending_order_paid_and_cs_may_not(api_client):
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku)

    refused = _transition(api_client, staff("cs_agent"), order, "paid", "paid by bank transfer")
    order.refresh_from_db()
    status_after_refusal = order.status
    forced = _transition(api_client, staff("ops_admin"), order, "paid", "paid by bank transfer")

    _problem(refused, 403, "order.transition_not_allowed")
    assert status_after_refusal == "pending"
    assert forced.status_code == 200, forced.json()
    assert (forced.json()["status"], forced.json()["payment"]["method"]) == ("paid", "manual")
    assert _available(sku) == (49, 0)


@pytest.mark.parametrize(
    ("role", "market", "to_status", "reason", "status", "code"),
    [
        ("ops_admin", None, "refunded", "audited", 409, "order.invalid_transition"),
        ("ops_admin", None, "shipped", "audited", 409, "order.invalid_transition"),
        ("ops_admin", None, "cancelled", "", 400, "request.invalid"),
        ("cs_agent", "US", "cancelled", "audited", 404, "order.not_found"),
        ("inventory_manager", None, "cancelled", "audited", 403, "auth.permission_denied"),
        ("marketing_manager", None, "cancelled", "audited", 403, "auth.permission_denied"),
    ],
)
def test_a_refused_transition_changes_nothing(api_client, role, market, to_status, reason, status, code):
    member = MemberFactory()
    _, sku = stocked(kr=12900)
    order = _order_via_service(member, sku)

    response = _transition(api_client, staff(role, market=market), order, to_status, reason)

    _problem(response, status, code)
    order.refresh_from_db()
    assert order.status == "pending"
    assert order.status_history.count() == 1
    assert _available(sku) == (50, 1)
