"""One wallet moved from many OS processes at once (issue 19 "Show", PostgreSQL): top-ups
through the sandbox provider, staff adjustments and order-style debits race on one wallet,
and balance = ledger sum, never below zero, each ``balance_after`` exact; the same
``Idempotency-Key`` sent by 20 processes at once credits exactly once; debits each larger
than half the balance: exactly as many win as the balance covers.

The sandbox runs in the test process (a thread); the children are forked and each builds
its own provider client (``reset_provider``) pointed at it. Skipped on SQLite-only runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.urls import resolve

from apps.accounts import tokens
from apps.accounts.models import User
from apps.core.errors import DomainError
from apps.core.models import OutboxEvent
from apps.markets.models import Market
from apps.payments import services
from apps.payments.models import Charge, Wallet, WalletEntry
from apps.payments.providers import reset_provider
from apps.payments.providers.sandbox import SandboxServer
from tests.payments.factories import MemberFactory, funded_wallet, ledger_sum, method_for, staff
from tests.utils.processes import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture
def pg_sandbox(require_postgres, sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The per-test sandbox, on PostgreSQL only."""
    yield sandbox


def _child_provider(url: str) -> None:
    """A forked child talks to the parent's sandbox through a client of its own."""
    django_settings.PAYMENT_PROVIDER_URL = url
    reset_provider()


# --- (a) top-ups, adjustments and debits on one wallet ------------------------------------


def _top_ups(url: str, user_id: int, method_id: str, proc: int) -> list[tuple[str, int, str, str]]:
    _child_provider(url)
    user, market = User.objects.get(pk=user_id), Market.objects.get(code="KR")
    done = []
    for n in range(3):
        result = services.top_up(
            user=user, market=market, method_id=method_id, amount=10_000, request_key=f"top-{proc}-{n}"
        )
        done.append(("top_up", 10_000, result.charge.status, f"charge:{result.charge.reference}"))
    return done


def _adjustments(url: str, user_id: int, ops_id: int, proc: int) -> list[tuple[str, int, str, str]]:
    _child_provider(url)
    user, ops, market = (
        User.objects.get(pk=user_id),
        User.objects.get(pk=ops_id),
        Market.objects.get(code="KR"),
    )
    done = []
    for n, amount in enumerate((5_000, -1_000, 5_000, -1_000)):
        reference = f"adj-{proc}-{n}"
        try:
            services.wallet_adjust(
                user=user, market=market, amount=amount, reason="race test", actor=ops, reference=reference
            )
            done.append(("adjustment", amount, "ok", reference))
        except DomainError as exc:
            done.append(("adjustment", amount, exc.code, reference))
    return done


def _debits(url: str, user_id: int, proc: int) -> list[tuple[str, int, str, str]]:
    _child_provider(url)
    wallet = Wallet.objects.get(user_id=user_id, currency="KRW")
    done = []
    for n in range(3):
        reference = f"order:{proc}-{n}:payment"
        try:
            with transaction.atomic():
                services.wallet_debit(wallet=wallet, amount=40_000, kind="payment", reference=reference)
            done.append(("payment", -40_000, "ok", reference))
        except DomainError as exc:
            done.append(("payment", -40_000, exc.code, reference))
    return done


def _mixed(role: str, *args: Any) -> list[tuple[str, int, str, str]]:
    return {"top_up": _top_ups, "adjust": _adjustments, "debit": _debits}[role](*args)


def test_concurrent_top_ups_adjustments_and_debits_keep_balance_equal_to_the_ledger(pg_sandbox, kr):
    # given: a member's KR wallet with 50,000 won, an approved card, an ops admin
    user = MemberFactory()
    ops = staff("ops_admin")
    method = method_for(user, kr)
    wallet = funded_wallet(user, kr, 50_000)
    url = pg_sandbox.url

    # when: 9 processes at once: 3 top up 3 x 10,000; 3 adjust (+5,000 -1,000) x 2; 3 try
    # to pay 40,000 three times each
    args: list[tuple[Any, ...]] = []
    for proc in range(3):
        args.append(("top_up", url, user.pk, str(method.public_id), proc))
        args.append(("adjust", url, user.pk, ops.pk, proc))
        args.append(("debit", url, user.pk, proc))
    outcomes = [row for rows in run_concurrently(_mixed, args) for row in rows]

    # then: every top-up succeeded, and no operation failed except debits for want of balance
    assert {(kind, status) for kind, _, status, _ in outcomes if kind != "payment"} <= {
        ("top_up", "succeeded"),
        ("adjustment", "ok"),
    }
    assert {status for kind, _, status, _ in outcomes if kind == "payment"} <= {
        "ok",
        "wallet.insufficient_balance",
    }
    moved = sum(amount for _, amount, status, _ in outcomes if status in ("ok", "succeeded"))
    refused = [ref for kind, _, status, ref in outcomes if status == "wallet.insufficient_balance"]
    paid = [ref for kind, _, status, ref in outcomes if kind == "payment" and status == "ok"]
    # 360,000 won of debits against at most 50,000 + 90,000 + 24,000 won: most are refused;
    # the first debit finds at least 50,000 - 6 x 1,000 won: one at least goes through
    assert len(paid) >= 1 and len(refused) >= 5 and len(paid) + len(refused) == 9

    # and: balance = ledger sum = start + what succeeded, never below zero
    wallet.refresh_from_db()
    assert wallet.balance == ledger_sum(wallet) == 50_000 + moved
    entries = list(
        WalletEntry.objects.filter(wallet=wallet).order_by("pk").values_list("amount", "balance_after")
    )
    assert len(entries) == 1 + 9 + 12 + len(paid)
    assert all(after >= 0 for _, after in entries)

    # and: each balance_after is the previous one plus the entry's amount (the UPDATE's lock
    # orders the entries of one wallet, and their ids are drawn inside it)
    running = 0
    for amount, after in entries:
        running += amount
        assert after == running

    # and: a refused debit left no entry; every entry has one event, numbered without gaps
    assert not WalletEntry.objects.filter(reference__in=refused).exists()
    assert WalletEntry.objects.filter(reference__in=paid).count() == len(paid)
    sequences = sorted(
        OutboxEvent.objects.filter(aggregate_type="wallet", aggregate_id=str(wallet.pk)).values_list(
            "aggregate_sequence", flat=True
        )
    )
    assert sequences == list(range(1, len(entries) + 1))

    # and: the provider applied each of the 9 top-up charges once
    applied = pg_sandbox.stats()["charges_applied"]
    assert len(applied) == 9 and set(applied.values()) == {1}
    assert services.wallets_reconcile().drift == []


# --- (b) the same Idempotency-Key from 20 processes ---------------------------------------


def _post_top_up(url: str, user_id: int, method_id: str, key: str) -> tuple[int, str | None, str | None, Any]:
    from rest_framework.test import APIClient

    _child_provider(url)
    user = User.objects.get(pk=user_id)
    response = APIClient().post(
        "/api/v1/wallet/top-ups",
        {"amount": 25_000, "payment_method_id": method_id},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(user)}",
        HTTP_X_MARKET="KR",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    body = response.json()
    return (
        response.status_code,
        body.get("code"),
        response.headers.get("Idempotent-Replayed"),
        (body.get("transaction") or {}).get("id"),
    )


def test_the_same_idempotency_key_from_20_processes_credits_exactly_once(pg_sandbox, kr):
    # given: a member with an approved card and an empty wallet
    user = MemberFactory()
    method = method_for(user, kr)

    # when: 20 processes POST the same top-up with the same Idempotency-Key at once (the
    # URLconf loaded before the fork, so that the children do not all import it at once)
    resolve("/api/v1/wallet/top-ups")
    answers = run_concurrently(
        _post_top_up, [(pg_sandbox.url, user.pk, str(method.public_id), "one-tap-123")] * 20
    )

    # then: each answer is the 201 (first, or replayed) or 409 idempotency.in_progress
    kinds = Counter(
        "created"
        if (status, replayed) == (201, None)
        else "replayed"
        if status == 201
        else f"{status} {code}"
        for status, code, replayed, _ in answers
    )
    assert set(kinds) <= {"created", "replayed", "409 idempotency.in_progress"}, answers
    assert kinds["created"] == 1
    assert all(replayed in (None, "true") for _, _, replayed, _ in answers)
    assert len({tx for status, _, _, tx in answers if status == 201}) == 1

    # and: one charge, one ledger entry, applied once by the provider
    charge = Charge.objects.get(user=user)
    assert (charge.status, charge.amount) == ("succeeded", 25_000)
    entry = WalletEntry.objects.get(wallet__user=user)
    assert (entry.amount, entry.reference) == (25_000, f"charge:{charge.reference}")
    assert Wallet.objects.get(user=user).balance == 25_000
    assert pg_sandbox.stats()["charges_applied"] == {str(charge.reference): 1}


def _service_top_up(url: str, user_id: int, method_id: str, key: str) -> tuple[int, str, int | None]:
    _child_provider(url)
    user, market = User.objects.get(pk=user_id), Market.objects.get(code="KR")
    result = services.top_up(user=user, market=market, method_id=method_id, amount=15_000, request_key=key)
    return result.charge.pk, result.charge.status, result.entry.pk if result.entry else None


def test_the_same_request_key_from_20_processes_in_the_service_credits_exactly_once(pg_sandbox, kr):
    # given: a member with an approved card (no HTTP idempotency layer in front: the charge's
    # request key and the ledger reference alone must hold)
    user = MemberFactory()
    method = method_for(user, kr)

    # when: 20 processes call top_up with the same request key at once
    results = run_concurrently(
        _service_top_up, [(pg_sandbox.url, user.pk, str(method.public_id), "same")] * 20
    )

    # then: all got the one charge and its one entry; the provider applied it once however
    # many processes sent its reference
    charge = Charge.objects.get(user=user)
    entry = WalletEntry.objects.get(wallet__user=user)
    assert set(results) == {(charge.pk, "succeeded", entry.pk)}
    assert Wallet.objects.get(user=user).balance == 15_000 == entry.amount
    assert pg_sandbox.stats()["charges_applied"] == {str(charge.reference): 1}


# --- (c) debits each more than the balance can cover twice --------------------------------


def _debit_once(user_id: int, amount: int, proc: int) -> str:
    wallet = Wallet.objects.get(user_id=user_id, currency="KRW")
    try:
        with transaction.atomic():
            services.wallet_debit(
                wallet=wallet, amount=amount, kind="payment", reference=f"order:{proc}:payment"
            )
    except DomainError as exc:
        return exc.code
    return "ok"


@pytest.mark.parametrize(("balance", "amount", "winners"), [(100_000, 60_000, 1), (100_000, 30_000, 3)])
def test_racing_debits_win_exactly_as_often_as_the_balance_covers(
    require_postgres, kr, balance, amount, winners
):
    # given: a wallet with 100,000 won
    user = MemberFactory()
    wallet = funded_wallet(user, kr, balance)

    # when: 10 processes each debit `amount` at once
    outcomes = Counter(run_concurrently(_debit_once, [(user.pk, amount, proc) for proc in range(10)]))

    # then: exactly `winners` succeed, the rest are wallet.insufficient_balance
    assert outcomes == {"ok": winners, "wallet.insufficient_balance": 10 - winners}
    wallet.refresh_from_db()
    assert wallet.balance == ledger_sum(wallet) == balance - winners * amount
    assert WalletEntry.objects.filter(wallet=wallet, kind="payment").count() == winners
    assert all(
        after >= 0
        for after in WalletEntry.objects.filter(wallet=wallet).values_list("balance_after", flat=True)
    )
