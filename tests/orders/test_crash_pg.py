"""A web process killed with SIGKILL between the debit and the response (issue 20 "Show"
5, PostgreSQL): the child runs the real POST /api/v1/orders/{id}/payments view with an
Idempotency-Key; right after the payment service's transaction commits (money taken, order
paid) it tells the parent and waits, and the parent kills it. The key stays in progress;
once its lock (IDEMPOTENCY_LOCK_SECONDS, 1 s here) runs out the member's retry with the
same key is taken over and answers 201 with the paid order, and the ledger holds exactly
one debit. Skipped on SQLite (the child must see the committed rows)."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import signal
import time
from typing import Any

import pytest
from django.db import connections
from django.urls import resolve
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.accounts.models import User
from apps.core import clock
from apps.core.models import IdempotencyKey, OutboxEvent
from apps.orders import services
from apps.orders.models import Order, OrderPayment
from apps.payments.models import Wallet, WalletEntry
from tests.orders.factories import (
    MemberFactory,
    funded_wallet,
    items_of,
    ledger_sum,
    place,
    sku_stock,
    stocked,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

KEY = "pay-crash-1"


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(user)}", HTTP_X_MARKET="KR")
    return client


def _web_process(user_id: int, order_id: str, conn: Any) -> None:
    """The request handler of a web worker that dies once the payment has committed."""
    real = services.order_pay_wallet

    def pay_then_hang(**kw: Any) -> Any:
        outcome = real(**kw)  # its durable transaction has committed here
        conn.send(("committed", str(outcome.payment.public_id)))
        time.sleep(60)  # the response is never built: SIGKILL arrives first
        return outcome

    services.order_pay_wallet = pay_then_hang  # type: ignore[assignment]  # this child only
    try:
        user = User.objects.get(pk=user_id)
        _client(user).post(
            f"/api/v1/orders/{order_id}/payments",
            {"method": "wallet"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=KEY,
        )
        conn.send(("answered", ""))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", repr(exc)))
    finally:
        connections.close_all()


def test_a_web_process_killed_after_the_debit_answers_the_paid_order_on_retry(require_postgres, kr, settings):
    # given: a pending order of 15,900 won, a wallet of 20,000, a 1 s idempotency lock
    settings.IDEMPOTENCY_LOCK_SECONDS = 1
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    order = place(user, kr, items_of((sku, 1)))
    funded_wallet(user, kr, 20_000)
    path = f"/api/v1/orders/{order.public_id}/payments"
    resolve(path)

    # when: the web process pays, and is SIGKILLed after the commit, before it answers
    connections.close_all()
    ctx = mp.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_web_process, args=(user.pk, str(order.public_id), child_end))
    child.start()
    try:
        assert parent_end.poll(60), "the child never reached the commit"
        what, payment_id = parent_end.recv()
        assert what == "committed", payment_id
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    finally:
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
    assert child.exitcode == -signal.SIGKILL

    # then: the money was taken and the order is paid, but the key is still in progress
    order.refresh_from_db()
    assert order.status == "paid"
    record = IdempotencyKey.objects.get(key=KEY)
    assert (record.state, record.response_status) == ("in_progress", None)
    # when: the member retries with the same key after the lock ran out
    assert record.locked_until - record.created_at == dt.timedelta(seconds=1)
    time.sleep(max(0.0, (record.locked_until - clock.now()).total_seconds()) + 0.1)
    retry = _client(user).post(path, {"method": "wallet"}, format="json", HTTP_IDEMPOTENCY_KEY=KEY)

    # then: 201 with the paid order and the payment the dead process made
    assert retry.status_code == 201, retry.content
    body = retry.json()
    assert body["id"] == payment_id
    assert body["status"] == "captured"
    assert body["order"]["id"] == str(order.public_id)
    assert body["order"]["status"] == "paid"
    # exactly one debit, one payment, stock committed once
    wallet = Wallet.objects.get(user=user)
    assert list(
        WalletEntry.objects.filter(wallet=wallet, kind="payment").values_list("amount", flat=True)
    ) == [-15900]
    assert wallet.balance == 20_000 - 15900 == ledger_sum(wallet)
    assert OrderPayment.objects.filter(order=order).count() == 1
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (49, 0)
    assert OutboxEvent.objects.filter(type="order.paid").count() == 1
    assert Order.objects.filter(user=user).count() == 1
    # and the key now replays that answer
    record.refresh_from_db()
    assert (record.state, record.response_status) == ("completed", 201)
    replay = _client(user).post(path, {"method": "wallet"}, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed"), replay.json()) == (
        201,
        "true",
        body,
    )
