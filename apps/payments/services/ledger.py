"""The only code that moves a wallet balance (DESIGN.md §7 "Wallet").

Every change is ``entry_post``: one conditional ``UPDATE payments_wallet SET balance =
balance + delta WHERE id = … AND balance + delta >= 0 RETURNING balance`` and the ledger row
carrying that ``balance_after``, in one transaction. Invariant kept: balance = sum of the
wallet's entries. The UPDATE holds the wallet's row lock until commit, so two changes of
one wallet take turns and each entry's ``balance_after`` is exact; a debit that would go
below zero matches no row and is ``wallet.insufficient_balance``. The entry's unique
``reference`` makes a replayed change (a retried task, a taken-over request) a no-op that
returns the first entry.

Lock order across apps (STYLE.md "Apps and their order"): an order checkout locks its
inventory rows before the wallet row, never the other way round.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction

from apps.accounts.models import User
from apps.core import clock
from apps.core.compiled import insert
from apps.core.money import Money
from apps.core.outbox import publish
from apps.markets.models import Market
from apps.payments import metrics
from apps.payments.errors import AdjustmentInvalid, AdjustmentLimit, AmountInvalid, InsufficientBalance
from apps.payments.models import Charge, Wallet, WalletEntry

#: Largest amount one entry may move (minor units): far above any policy limit, far below
#: the 64-bit column, so a sum of entries can never overflow.
AMOUNT_MAX = 10**13


def parse_amount(value: Any) -> int:
    """An amount as sent by a client: a JSON integer 1..AMOUNT_MAX minor units.
    Raises: wallet.amount_invalid."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= AMOUNT_MAX:
        raise AmountInvalid()
    return value


def wallet_get_or_create(*, user: User, market: Market) -> Wallet:
    """The member's wallet in ``market``'s currency, created empty on first use.
    Locks: none (the unique (user, currency) index decides a creation race)."""
    wallet = Wallet.objects.filter(user=user, currency=market.currency).first()
    if wallet is not None:
        return wallet
    now = clock.now()
    try:
        with transaction.atomic():
            return Wallet.objects.create(
                user=user, market=market, currency=market.currency, balance=0, created_at=now, updated_at=now
            )
    except IntegrityError:
        return Wallet.objects.get(user=user, currency=market.currency)


@dataclass(frozen=True)
class Posted:
    entry: WalletEntry
    #: False when ``reference`` had already been posted: ``entry`` is that first entry.
    created: bool


def _event_payload(wallet: Wallet, entry: WalletEntry) -> dict[str, Any]:
    return {
        "wallet_id": wallet.pk,
        "user_id": wallet.user_id,
        "entry_id": entry.pk,
        "kind": entry.kind,
        "amount": abs(entry.amount),
        "currency": wallet.currency,
        "balance_after": entry.balance_after,
        "reference": entry.reference,
        "reason": entry.reason,
    }


def entry_post(
    *,
    wallet: Wallet,
    amount: int,
    kind: str,
    reference: str,
    actor: User | None = None,
    reason: str = "",
    charge: Charge | None = None,
    new_reference: bool = False,
) -> Posted:
    """Move ``wallet`` by the signed ``amount`` and append its ledger entry.

    A ``reference`` already posted returns that entry (``created`` False) and moves
    nothing; ``new_reference=True`` skips that lookup for a caller that knows the reference
    is new (the unique index still refuses a second entry: IntegrityError).

    Runs in the caller's transaction (not durable: an order payment posts inside its own
    use-case); publishes ``wallet.credited`` or ``wallet.debited`` there.
    Locks: the wallet row (by the conditional UPDATE) until the caller commits.
    Raises: wallet.insufficient_balance (nothing changed).
    """
    assert connection.in_atomic_block, "entry_post() must run inside the caller's transaction"
    assert amount != 0 and abs(amount) <= AMOUNT_MAX, amount
    existing = None if new_reference else WalletEntry.objects.filter(reference=reference).first()
    if existing is not None:
        return Posted(existing, created=False)
    now = clock.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_wallet SET balance = balance + %s, updated_at = %s "
            "WHERE id = %s AND balance + %s >= 0 RETURNING balance",
            [amount, now, wallet.pk, amount],
        )
        row = cursor.fetchone()
    if row is None:
        current = Wallet.objects.filter(pk=wallet.pk).values_list("balance", flat=True).first() or 0
        metrics.debit_refused(wallet_id=wallet.pk, kind=kind, amount=amount, balance=current)
        raise InsufficientBalance(
            balance=Money(current, wallet.currency).format(), amount=Money(-amount, wallet.currency).format()
        )
    wallet.balance = int(row[0])
    wallet.updated_at = now
    return _entry_record(
        wallet,
        amount=amount,
        kind=kind,
        reference=reference,
        actor=actor,
        reason=reason,
        charge=charge,
        now=now,
    )


def _entry_record(
    wallet: Wallet,
    *,
    amount: int,
    kind: str,
    reference: str,
    actor: User | None,
    reason: str,
    charge: Charge | None,
    now: dt.datetime,
) -> Posted:
    """The ledger entry and the event of a move the conditional UPDATE just made."""
    # A reference posted meanwhile by a concurrent transaction (committed after our lookup)
    # fails this insert on the unique index: IntegrityError, and the caller's transaction,
    # balance move included, rolls back. Callers that can race on one reference (a charge
    # settle) serialise on their own row first, so this is the backstop, not the path.
    entry = insert(
        WalletEntry(
            wallet=wallet,
            kind=kind,
            amount=amount,
            balance_after=wallet.balance,
            reference=reference,
            actor=actor,
            reason=reason[:500],
            charge=charge,
            created_at=now,
        )
    )
    publish(
        type="wallet.credited" if amount > 0 else "wallet.debited",
        aggregate_type="wallet",
        locked=True,  # the conditional UPDATE before this holds the wallet row
        aggregate_id=wallet.pk,
        market=wallet.market_id,
        payload=_event_payload(wallet, entry),
    )
    metrics.entry_posted(kind=kind, currency=wallet.currency, amount=amount)
    return Posted(entry, created=True)


def member_wallet_debit(
    *, user: User, market: Market, amount: int, kind: str, reference: str, actor: User | None = None
) -> Posted:
    """Take ``amount`` (> 0) from the member's wallet in ``market``'s currency, for a
    ``reference`` the caller knows is new (an order's payment), in the caller's transaction.

    ``wallet_get_or_create`` + ``wallet_debit`` in one statement on the happy path: the
    conditional UPDATE finds the wallet by its unique (user, currency) and returns it. Only
    when it moves nothing (no wallet yet, or too little in it) does the long way run, which
    creates the wallet or raises. Locks: the wallet row (by the UPDATE).
    Raises: wallet.insufficient_balance (nothing changed)."""
    assert connection.in_atomic_block, "member_wallet_debit() must run inside the caller's transaction"
    assert 0 < amount <= AMOUNT_MAX, amount
    now = clock.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_wallet SET balance = balance - %s, updated_at = %s "
            "WHERE user_id = %s AND currency = %s AND balance - %s >= 0 RETURNING id, balance, market_id",
            [amount, connection.ops.adapt_datetimefield_value(now), user.pk, market.currency, amount],
        )
        row = cursor.fetchone()
    if row is None:
        wallet = wallet_get_or_create(user=user, market=market)
        return wallet_debit(
            wallet=wallet, amount=amount, kind=kind, reference=reference, actor=actor, new_reference=True
        )
    wallet = Wallet(
        pk=int(row[0]),
        user_id=user.pk,
        market_id=row[2],
        currency=market.currency,
        balance=int(row[1]),
        updated_at=now,
    )
    return _entry_record(
        wallet, amount=-amount, kind=kind, reference=reference, actor=actor, reason="", charge=None, now=now
    )


def wallet_debit(
    *,
    wallet: Wallet,
    amount: int,
    kind: str,
    reference: str,
    actor: User | None = None,
    reason: str = "",
    new_reference: bool = False,
) -> Posted:
    """Take ``amount`` (> 0) from ``wallet`` in the caller's transaction (an order payment).
    Raises: wallet.insufficient_balance."""
    return entry_post(
        wallet=wallet,
        amount=-amount,
        kind=kind,
        reference=reference,
        actor=actor,
        reason=reason,
        new_reference=new_reference,
    )


def wallet_credit(
    *,
    wallet: Wallet,
    amount: int,
    kind: str,
    reference: str,
    actor: User | None = None,
    reason: str = "",
    charge: Charge | None = None,
) -> Posted:
    """Add ``amount`` (> 0) to ``wallet`` in the caller's transaction (a top-up, a refund)."""
    return entry_post(
        wallet=wallet,
        amount=amount,
        kind=kind,
        reference=reference,
        actor=actor,
        reason=reason,
        charge=charge,
    )


def adjustment_limit_for(*, actor: User, market: Market) -> int | None:
    """The most ``actor`` may adjust one wallet by in ``market``; ``None`` is no limit."""
    if actor.has_perm("payments.adjust_wallet_unlimited"):
        return None
    return int(market.wallet_adjustment_limit)


@transaction.atomic(durable=True)
def wallet_adjust(
    *, user: User, market: Market, amount: int, reason: str, actor: User, reference: str
) -> WalletEntry:
    """A staff credit (``amount`` > 0) or debit (< 0) of a member's wallet, with a reason.

    Customer service may move at most the market's ``wallet_adjustment_limit`` per
    adjustment; ``payments.adjust_wallet_unlimited`` (ops) lifts it. The entry names the
    actor and the reason (the audit), and a replayed ``reference`` returns the first entry.
    Locks: the wallet row. Raises: wallet.adjustment_invalid, wallet.adjustment_limit,
    wallet.insufficient_balance. Emits: wallet.credited | wallet.debited.
    """
    reason = (reason or "").strip()
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int)
        or amount == 0
        or abs(amount) > AMOUNT_MAX
        or not reason
    ):
        raise AdjustmentInvalid()
    limit = adjustment_limit_for(actor=actor, market=market)
    if limit is not None and abs(amount) > limit:
        raise AdjustmentLimit(limit=market.money(limit).format())
    wallet = wallet_get_or_create(user=user, market=market)
    posted = entry_post(
        wallet=wallet,
        amount=amount,
        kind=WalletEntry.Kind.ADJUSTMENT,
        reference=reference,
        actor=actor,
        reason=reason,
    )
    if posted.created:
        metrics.adjusted(actor_id=actor.pk, wallet_id=wallet.pk, amount=amount, market=market.code)
    return posted.entry
