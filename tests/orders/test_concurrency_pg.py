"""Orders placed and paid from many OS processes at once (issue 20 "Show" 4, PostgreSQL):
20 requests with one Idempotency-Key place one order and hold its stock once, every answer
the same order (or ``idempotency.in_progress``); 20 payments with one key debit once; many
funded members racing for the last 5 units sell exactly 5, charge only the winners, and
leave on_hand = the sum of its movements, never below zero. Skipped on SQLite."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from django.urls import resolve

from apps.accounts import tokens
from apps.accounts.models import User
from apps.core.errors import DomainError
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation, StockLevel
from apps.inventory.selectors import stock_drift
from apps.markets.models import Market
from apps.orders import services
from apps.orders.models import Order, OrderPayment
from apps.payments.models import Wallet, WalletEntry
from tests.orders.conftest import address_for
from tests.orders.factories import (
    MemberFactory,
    funded_wallet,
    items_of,
    ledger_sum,
    movements_sum,
    place,
    sku_stock,
    stocked,
)
from tests.utils.processes import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

PROCESSES = 20


def _client(user: User) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(user)}", HTTP_X_MARKET=user.market_id
    )
    return client


def _answer(response: Any) -> tuple[int, str | None, str | None, str]:
    body = response.json()
    return (
        response.status_code,
        body.get("code"),
        response.headers.get("Idempotent-Replayed"),
        json.dumps(body, sort_keys=True),
    )


# --- (a) one key, 20 placements ------------------------------------------------------------


def _post_order(user_id: int, sku: str, key: str) -> tuple[int, str | None, str | None, str]:
    user = User.objects.get(pk=user_id)
    response = _client(user).post(
        "/api/v1/orders",
        {"items": items_of((sku, 3)), "shipping_address": address_for("KR")},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    return _answer(response)


def _kinds(answers: list[tuple[int, str | None, str | None, str]]) -> Counter[str]:
    return Counter(
        "created"
        if (status, replayed) == (201, None)
        else "replayed"
        if status == 201
        else f"{status} {code}"
        for status, code, replayed, _ in answers
    )


def test_one_key_from_20_processes_places_one_order_and_holds_its_stock_once(require_postgres, kr):
    # given: a member and a product with 50 units
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    resolve("/api/v1/orders")  # the URLconf loaded before the fork

    # when: 20 processes POST the same order with the same key at once
    answers = run_concurrently(_post_order, [(user.pk, sku, "checkout-123")] * PROCESSES)

    # then: one 201 created; the rest replay it (the same body) or are told it is in flight
    kinds = _kinds(answers)
    assert set(kinds) <= {"created", "replayed", "409 idempotency.in_progress"}, answers
    assert kinds["created"] == 1, kinds
    bodies = {body for status, _, _, body in answers if status == 201}
    assert len(bodies) == 1, bodies
    # and: one order, 3 units held once, one order.created event
    order = Order.objects.get(user=user)
    assert json.loads(bodies.pop())["id"] == str(order.public_id)
    assert order.status == "pending"
    assert list(Reservation.objects.filter(owner=order.owner).values_list("quantity", "status")) == [
        (3, "active")
    ]
    level = sku_stock(sku)
    assert (level.on_hand, level.reserved) == (50, 3)
    assert OutboxEvent.objects.filter(type="order.created").count() == 1
    assert stock_drift() == []


# --- (b) one key, 20 payments ---------------------------------------------------------------


def _post_payment(user_id: int, order_id: str, key: str) -> tuple[int, str | None, str | None, str]:
    user = User.objects.get(pk=user_id)
    response = _client(user).post(
        f"/api/v1/orders/{order_id}/payments", {"method": "wallet"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    return _answer(response)


def test_one_payment_key_from_20_processes_debits_once(require_postgres, kr):
    # given: a pending order of 15,900 won and a wallet of 100,000
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    order = place(user, kr, items_of((sku, 1)))
    funded_wallet(user, kr, 100_000)
    resolve(f"/api/v1/orders/{order.public_id}/payments")

    # when
    answers = run_concurrently(_post_payment, [(user.pk, str(order.public_id), "pay-123")] * PROCESSES)

    # then: one capture; every 201 the same body; the rest in flight
    kinds = _kinds(answers)
    assert set(kinds) <= {"created", "replayed", "409 idempotency.in_progress"}, answers
    assert kinds["created"] == 1, kinds
    assert len({body for status, _, _, body in answers if status == 201}) == 1
    # and: one debit of the total, one captured payment, stock committed once
    order.refresh_from_db()
    assert (order.status, order.total) == ("paid", 15900)
    wallet = Wallet.objects.get(user=user)
    assert list(
        WalletEntry.objects.filter(wallet=wallet, kind="payment").values_list("amount", flat=True)
    ) == [-15900]
    assert wallet.balance == 100_000 - 15900 == ledger_sum(wallet)
    assert list(OrderPayment.objects.filter(order=order).values_list("status", flat=True)) == ["captured"]
    level = sku_stock(sku)
    assert (level.on_hand, level.reserved, movements_sum(level)) == (49, 0, 49)
    assert OutboxEvent.objects.filter(type="order.paid").count() == 1


# --- (c) many members, the last K units ----------------------------------------------------------

K = 5
BUYERS = 14
FUNDS = 50_000


def _buy(user_id: int, sku: str, proc: int) -> tuple[int, str, str | None]:
    user, market = User.objects.get(pk=user_id), Market.objects.get(code="KR")
    try:
        order = services.order_place(
            user=user,
            market=market,
            idempotency_key=f"buy-{proc}",
            items=items_of((sku, 1)),
            shipping_address=address_for("KR"),
        ).order
    except DomainError as exc:
        return user_id, "not_placed", exc.code
    try:
        services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key=f"pay-{proc}")
    except DomainError as exc:
        return user_id, "not_paid", exc.code
    return user_id, "paid", None


def test_members_racing_for_the_last_units_sell_exactly_k_and_charge_only_the_winners(require_postgres, kr):
    # given: 5 units left of a SKU (after 3 sold earlier), 14 funded members
    _, sku = stocked(kr=12900, stock={"KR": K + 3})
    for _ in range(3):
        place_and_pay = place(buyer := MemberFactory(), kr, items_of((sku, 1)))
        funded_wallet(buyer, kr, place_and_pay.total)
        services.order_pay_wallet(order_id=str(place_and_pay.public_id), user=buyer, idempotency_key="early")
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (K, 0)
    members = [MemberFactory() for _ in range(BUYERS)]
    for member in members:
        funded_wallet(member, kr, FUNDS)

    # when: each places and pays for one unit, all at once
    outcomes = run_concurrently(_buy, [(m.pk, sku, i) for i, m in enumerate(members)])

    # then: exactly K paid; everyone else was refused the stock
    by_kind = Counter(kind for _, kind, _ in outcomes)
    assert by_kind["paid"] == K, outcomes
    assert {(kind, code) for _, kind, code in outcomes if kind != "paid"} <= {
        ("not_placed", "inventory.insufficient_stock"),
        ("not_paid", "inventory.reservation_expired"),
    }, outcomes
    winners = {user_id for user_id, kind, _ in outcomes if kind == "paid"}
    for member in members:
        wallet = Wallet.objects.get(user=member)
        paid = Order.objects.filter(user=member, status="paid")
        if member.pk in winners:
            assert paid.count() == 1
            assert wallet.balance == FUNDS - paid.get().total == ledger_sum(wallet)
        else:
            assert paid.count() == 0
            assert wallet.balance == FUNDS == ledger_sum(wallet)
            assert not WalletEntry.objects.filter(wallet=wallet, kind="payment").exists()
    # and the stock: sold out exactly, on_hand = the sum of its movements, never below zero
    level = sku_stock(sku)
    assert (level.on_hand, level.reserved) == (0, 0)
    assert movements_sum(level) == 0
    assert not StockLevel.objects.filter(on_hand__lt=0).exists()
    assert stock_drift() == []
    assert Order.objects.filter(status="paid").count() == K + 3
    assert OrderPayment.objects.filter(status="captured").count() == K + 3
