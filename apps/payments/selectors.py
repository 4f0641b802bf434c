"""Wallet reads shaped for the API, the storefront page and the back office."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from apps.accounts.models import User
from apps.markets.models import Market
from apps.payments.models import Charge, PaymentMethod, Wallet, WalletEntry


def wallet_find(*, user: User, market: Market) -> Wallet | None:
    """The member's wallet in the market's currency, or ``None`` before first use."""
    return Wallet.objects.filter(user=user, currency=market.currency).first()


def wallet_entry_list(
    *,
    wallet: Wallet | None,
    kind: str | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
) -> QuerySet[WalletEntry]:
    """A wallet's ledger, newest first (the index ``payments_entry_wallet_idx``)."""
    if wallet is None:
        return WalletEntry.objects.none()
    qs = WalletEntry.objects.filter(wallet=wallet).select_related("wallet")
    if kind:
        qs = qs.filter(kind=kind)
    if created_from is not None:
        qs = qs.filter(created_at__gte=created_from)
    if created_to is not None:
        qs = qs.filter(created_at__lt=created_to)
    return qs.order_by("-created_at", "-id")


def payment_method_list(*, user: User, market: Market | None = None) -> QuerySet[PaymentMethod]:
    """The member's active methods, newest first; only ``market``'s when given."""
    qs = PaymentMethod.objects.filter(user=user, status=PaymentMethod.Status.ACTIVE)
    if market is not None:
        qs = qs.filter(market=market)
    return qs.order_by("-created_at", "-pk")


def top_up_get(*, user: User, reference: str) -> Charge | None:
    return (
        Charge.objects.filter(user=user, reference=reference, purpose=Charge.Purpose.TOP_UP)
        .select_related("payment_method", "wallet")
        .first()
    )


@dataclass(frozen=True)
class WalletDrift:
    wallet_id: int
    user_id: int
    currency: str
    balance: int
    ledger_sum: int


def wallet_drift() -> list[WalletDrift]:
    """Wallets whose balance is not the sum of their ledger (should always be empty)."""
    sums = (
        WalletEntry.objects.filter(wallet=OuterRef("pk"))
        .order_by()
        .values("wallet")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    rows = (
        Wallet.objects.annotate(ledger_sum=Coalesce(Subquery(sums), Value(0)))
        .exclude(balance=F("ledger_sum"))
        .values_list("pk", "user_id", "currency", "balance", "ledger_sum")
    )
    return [WalletDrift(*row) for row in rows]


@dataclass(frozen=True)
class OverdueCharge:
    reference: str
    created_at: dt.datetime
    market_id: str


def charges_overdue(*, now: dt.datetime) -> list[OverdueCharge]:
    """Charges still pending longer than ``PAYMENT_CHARGE_OVERDUE_SECONDS``."""
    before = now - dt.timedelta(seconds=settings.PAYMENT_CHARGE_OVERDUE_SECONDS)
    rows = Charge.objects.filter(status=Charge.Status.PENDING, created_at__lt=before).values_list(
        "reference", "created_at", "market_id"
    )
    return [OverdueCharge(str(ref), created, market) for ref, created, market in rows[:1000]]


def charges_overdue_count(*, now: dt.datetime) -> int:
    before = now - dt.timedelta(seconds=settings.PAYMENT_CHARGE_OVERDUE_SECONDS)
    return Charge.objects.filter(status=Charge.Status.PENDING, created_at__lt=before).count()
