"""The wallet ledger (issue 19, Deliver 1, 5, 6): every balance change is one conditional
UPDATE plus its entry; ``balance_after`` chains exactly; a refused debit changes nothing; a
reference moves a wallet once; events carry the documented payload; CS adjusts within the
market's limit, ops without; on PostgreSQL the database itself refuses edits of the ledger
and a negative balance; reconciliation finds a forged balance."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import Error as DatabaseError
from prometheus_client import REGISTRY

from apps.core.models import OutboxEvent
from apps.payments import services
from apps.payments.errors import AdjustmentInvalid, AdjustmentLimit, InsufficientBalance
from apps.payments.models import Wallet, WalletEntry
from apps.payments.selectors import WalletDrift
from tests.payments.factories import MemberFactory, funded_wallet, ledger_sum, staff

pytestmark = pytest.mark.django_db


def _credit(wallet: Wallet, amount: int, reference: str) -> services.Posted:
    with transaction.atomic():
        return services.wallet_credit(wallet=wallet, amount=amount, kind="top_up", reference=reference)


def _debit(wallet: Wallet, amount: int, reference: str) -> services.Posted:
    with transaction.atomic():
        return services.wallet_debit(wallet=wallet, amount=amount, kind="payment", reference=reference)


def _wallet_events(wallet: Wallet) -> list[OutboxEvent]:
    return list(
        OutboxEvent.objects.filter(aggregate_type="wallet", aggregate_id=str(wallet.pk)).order_by(
            "aggregate_sequence"
        )
    )


def test_credit_debit_adjust_chain_balance_after_exactly(kr):
    # given: an empty KR wallet
    user = MemberFactory()
    ops = staff("ops_admin")
    wallet = services.wallet_get_or_create(user=user, market=kr)

    # when: a credit, a debit, a staff debit and a staff credit
    _credit(wallet, 30_000, "t:1")
    _debit(wallet, 12_500, "t:2")
    services.wallet_adjust(
        user=user, market=kr, amount=-500, reason="goodwill fix", actor=ops, reference="t:3"
    )
    services.wallet_adjust(
        user=user, market=kr, amount=7_000, reason="refund by hand", actor=ops, reference="t:4"
    )

    # then: the entries chain balance_after in order, and balance = ledger sum
    rows = list(
        WalletEntry.objects.filter(wallet=wallet)
        .order_by("pk")
        .values_list("kind", "amount", "balance_after", "reference", "actor_id")
    )
    assert rows == [
        ("top_up", 30_000, 30_000, "t:1", None),
        ("payment", -12_500, 17_500, "t:2", None),
        ("adjustment", -500, 17_000, "t:3", ops.pk),
        ("adjustment", 7_000, 24_000, "t:4", ops.pk),
    ]
    wallet.refresh_from_db()
    assert wallet.balance == 24_000 == ledger_sum(wallet)
    assert WalletEntry.objects.get(reference="t:3").reason == "goodwill fix"


def test_debit_beyond_the_balance_is_refused_and_changes_nothing(kr):
    # given: a wallet holding 10,000 won
    user = MemberFactory()
    wallet = funded_wallet(user, kr, 10_000)
    entries, events = WalletEntry.objects.count(), OutboxEvent.objects.count()

    # when: a debit of 10,001 won
    with pytest.raises(InsufficientBalance) as exc:
        _debit(wallet, 10_001, "order:1:payment")

    # then: wallet.insufficient_balance (402) naming both amounts; nothing moved or emitted
    assert exc.value.code == "wallet.insufficient_balance"
    assert exc.value.http_status == 402
    assert exc.value.params == {"balance": kr.money(10_000).format(), "amount": kr.money(10_001).format()}
    wallet.refresh_from_db()
    assert wallet.balance == 10_000
    assert WalletEntry.objects.count() == entries
    assert OutboxEvent.objects.count() == events
    assert not WalletEntry.objects.filter(reference="order:1:payment").exists()

    # and: exactly the balance is allowed, down to zero
    posted = _debit(wallet, 10_000, "order:1:payment")
    assert posted.entry.balance_after == 0


def test_same_reference_twice_moves_the_wallet_once(kr):
    # given: a wallet credited with reference charge:x
    wallet = services.wallet_get_or_create(user=MemberFactory(), market=kr)
    first = _credit(wallet, 5_000, "charge:x")

    # when: the same reference again (a retried task), even with another amount
    again = _credit(wallet, 5_000, "charge:x")
    other = _credit(wallet, 9_999, "charge:x")

    # then: one entry, one event; the replays return the first entry
    assert first.created is True
    assert (again.created, again.entry.pk) == (False, first.entry.pk)
    assert (other.created, other.entry.pk) == (False, first.entry.pk)
    wallet.refresh_from_db()
    assert wallet.balance == 5_000 == ledger_sum(wallet)
    assert WalletEntry.objects.filter(wallet=wallet).count() == 1
    assert len(_wallet_events(wallet)) == 1


def test_credits_and_debits_emit_wallet_events_with_the_documented_payload(kr):
    # given: a member's KR wallet
    user = MemberFactory()
    ops = staff("ops_admin")
    wallet = services.wallet_get_or_create(user=user, market=kr)

    # when: a top-up credit and a staff debit
    credit = _credit(wallet, 20_000, "charge:abc").entry
    debit = services.wallet_adjust(
        user=user, market=kr, amount=-3_000, reason="duplicate refund", actor=ops, reference="adj:1"
    )

    # then: wallet.credited then wallet.debited, for the wallet aggregate, in KR
    events = _wallet_events(wallet)
    assert [(e.type, e.aggregate_type, e.aggregate_id, e.market, e.aggregate_sequence) for e in events] == [
        ("wallet.credited", "wallet", str(wallet.pk), "KR", 1),
        ("wallet.debited", "wallet", str(wallet.pk), "KR", 2),
    ]
    assert events[0].payload == {
        "wallet_id": wallet.pk,
        "user_id": user.pk,
        "entry_id": credit.pk,
        "kind": "top_up",
        "amount": 20_000,
        "currency": "KRW",
        "balance_after": 20_000,
        "reference": "charge:abc",
        "reason": "",
    }
    assert events[1].payload == {
        "wallet_id": wallet.pk,
        "user_id": user.pk,
        "entry_id": debit.pk,
        "kind": "adjustment",
        "amount": 3_000,  # unsigned: the type says the direction
        "currency": "KRW",
        "balance_after": 17_000,
        "reference": "adj:1",
        "reason": "duplicate refund",
    }


def test_cs_agent_adjusts_up_to_the_market_limit_and_no_further(kr):
    # given: a KR CS agent (limit 100,000 won) and a member with 500,000 won
    user = MemberFactory()
    cs = staff("cs_agent", market="KR")
    wallet = funded_wallet(user, kr, 500_000)
    limit = kr.wallet_adjustment_limit
    assert limit == 100_000
    assert services.adjustment_limit_for(actor=cs, market=kr) == limit
    entries, events = WalletEntry.objects.count(), OutboxEvent.objects.count()

    # when / then: one won above the limit, either way, is wallet.adjustment_limit (403)
    for amount in (limit + 1, -(limit + 1)):
        with pytest.raises(AdjustmentLimit) as exc:
            services.wallet_adjust(
                user=user, market=kr, amount=amount, reason="r", actor=cs, reference=f"a:{amount}"
            )
        assert (exc.value.code, exc.value.http_status) == ("wallet.adjustment_limit", 403)
        assert exc.value.params == {"limit": kr.money(limit).format()}
    wallet.refresh_from_db()
    assert wallet.balance == 500_000
    assert (WalletEntry.objects.count(), OutboxEvent.objects.count()) == (entries, events)

    # and: exactly the limit is allowed, both ways
    services.wallet_adjust(user=user, market=kr, amount=limit, reason="r", actor=cs, reference="a:up")
    services.wallet_adjust(user=user, market=kr, amount=-limit, reason="r", actor=cs, reference="a:down")
    wallet.refresh_from_db()
    assert wallet.balance == 500_000 == ledger_sum(wallet)


def test_ops_adjusts_without_limit(kr):
    # given: an ops admin
    user = MemberFactory()
    ops = staff("ops_admin")
    assert services.adjustment_limit_for(actor=ops, market=kr) is None

    # when: a credit of 100x the CS limit
    entry = services.wallet_adjust(
        user=user,
        market=kr,
        amount=kr.wallet_adjustment_limit * 100,
        reason="migration",
        actor=ops,
        reference="big",
    )

    # then: posted
    assert entry.amount == 10_000_000
    assert services.wallet_get_or_create(user=user, market=kr).balance == 10_000_000


@pytest.mark.parametrize(
    ("amount", "reason"),
    [(1_000, ""), (1_000, "   "), (0, "a reason"), (True, "a reason"), ("1000", "a reason")],
)
def test_an_adjustment_needs_a_non_zero_amount_and_a_reason(kr, amount, reason):
    # given: an ops admin and a member with 1,000 won
    user = MemberFactory()
    wallet = funded_wallet(user, kr, 1_000)
    entries = WalletEntry.objects.count()

    # when / then: wallet.adjustment_invalid, nothing posted
    with pytest.raises(AdjustmentInvalid):
        services.wallet_adjust(
            user=user, market=kr, amount=amount, reason=reason, actor=staff("ops_admin"), reference="bad"
        )
    wallet.refresh_from_db()
    assert (wallet.balance, WalletEntry.objects.count()) == (1_000, entries)


def test_a_staff_debit_beyond_the_balance_is_refused(kr):
    # given: a member with 1,000 won
    user = MemberFactory()
    wallet = funded_wallet(user, kr, 1_000)
    entries = WalletEntry.objects.count()

    # when / then
    with pytest.raises(InsufficientBalance):
        services.wallet_adjust(
            user=user, market=kr, amount=-1_001, reason="claw back", actor=staff("ops_admin"), reference="cb"
        )
    wallet.refresh_from_db()
    assert (wallet.balance, WalletEntry.objects.count()) == (1_000, entries)


def test_postgres_refuses_update_and_delete_of_a_ledger_row(kr, require_postgres):
    # given: one entry
    wallet = funded_wallet(MemberFactory(), kr, 4_000)
    entry = WalletEntry.objects.get(wallet=wallet)

    # when / then: raw SQL UPDATE and DELETE are refused by the trigger
    for sql in (
        "UPDATE payments_walletentry SET amount = 1 WHERE id = %s",
        "DELETE FROM payments_walletentry WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(sql, [entry.pk])
    entry.refresh_from_db()
    assert (entry.amount, entry.balance_after) == (4_000, 4_000)


def test_postgres_check_refuses_a_negative_balance(kr, require_postgres):
    # given: a wallet with 4,000 won
    wallet = funded_wallet(MemberFactory(), kr, 4_000)

    # when / then: a raw UPDATE to a negative balance violates the CHECK
    refused = pytest.raises(DatabaseError, match="payments_wallet_balance_nonnegative")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE payments_wallet SET balance = -1 WHERE id = %s", [wallet.pk])
    wallet.refresh_from_db()
    assert wallet.balance == 4_000


def test_reconciliation_is_clean_and_reports_a_forged_balance(kr):
    # given: two funded wallets, reconciled clean
    user = MemberFactory()
    wallet = funded_wallet(user, kr, 8_000)
    funded_wallet(MemberFactory(), kr, 3_000)
    report = services.wallets_reconcile()
    assert report.clean is True
    assert (report.drift, report.overdue_charges) == ([], [])
    assert REGISTRY.get_sample_value("joopang_wallet_drift_wallets") == 0

    # when: someone forges one balance in SQL
    with connection.cursor() as cursor:
        cursor.execute("UPDATE payments_wallet SET balance = %s WHERE id = %s", [99_000, wallet.pk])
    report = services.wallets_reconcile()

    # then: exactly that wallet, with both numbers; the gauge says one
    assert report.clean is False
    assert report.drift == [
        WalletDrift(wallet_id=wallet.pk, user_id=user.pk, currency="KRW", balance=99_000, ledger_sum=8_000)
    ]
    assert REGISTRY.get_sample_value("joopang_wallet_drift_wallets") == 1


def test_reconciliation_counts_a_wallet_without_entries_as_zero(kr):
    # given: a wallet created but never moved, then forged to 1 won
    wallet = services.wallet_get_or_create(user=MemberFactory(), market=kr)
    assert services.wallets_reconcile().clean is True
    Wallet.objects.filter(pk=wallet.pk).update(balance=1)

    # when
    report = services.wallets_reconcile()

    # then: the ledger sum of no entries is 0
    assert [(d.wallet_id, d.balance, d.ledger_sum) for d in report.drift] == [(wallet.pk, 1, 0)]
