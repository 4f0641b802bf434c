"""Wallet invariants checked by ``manage.py check_invariants`` (apps.core.invariants):
balance = the sum of its ledger and never negative; every ledger entry has its
``wallet.credited`` / ``wallet.debited`` event (with its ``entry_id``) while events are
retained."""

from __future__ import annotations

from typing import Any

from django.db.models import BigIntegerField, CharField, Exists, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from apps.core.invariants import Invariant, events_retained_since
from apps.core.models import OutboxEvent
from apps.payments.models import Wallet, WalletEntry


def _balance_off_ledger() -> QuerySet[Any, Any]:
    ledger = (
        WalletEntry.objects.filter(wallet_id=OuterRef("pk"))
        .values("wallet_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        Wallet.objects.annotate(ledger=Coalesce(Subquery(ledger), Value(0)))
        .exclude(balance=F("ledger"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _balance_negative() -> QuerySet[Any, Any]:
    return Wallet.objects.filter(balance__lt=0).order_by("pk").values_list("pk", flat=True)


def _entry_without_event() -> QuerySet[Any, Any]:
    event = OutboxEvent.objects.annotate(
        entry_id=Cast(KeyTextTransform("entry_id", "payload"), output_field=BigIntegerField())
    ).filter(
        aggregate_type="wallet",
        aggregate_id=Cast(OuterRef("wallet_id"), output_field=CharField()),
        type__in=["wallet.credited", "wallet.debited"],
        entry_id=OuterRef("pk"),
    )
    return (
        WalletEntry.objects.filter(created_at__gte=events_retained_since())
        .exclude(Exists(event))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


INVARIANTS = [
    Invariant(
        "payments.wallet_balance_matches_ledger",
        "wallet balance = sum of its ledger entries (wallet ids)",
        _balance_off_ledger,
    ),
    Invariant("payments.wallet_balance_nonnegative", "wallet balance >= 0 (wallet ids)", _balance_negative),
    Invariant(
        "payments.entry_has_event",
        "every wallet ledger entry has its wallet.* event with its entry_id (entry ids)",
        _entry_without_event,
    ),
]
