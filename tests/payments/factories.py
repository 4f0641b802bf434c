"""Payments test data: members with saved methods and funded wallets, made through the
services (the ledger can only be written by them)."""

from __future__ import annotations

import uuid

from apps.accounts.models import User
from apps.markets.models import Market
from apps.payments import services
from apps.payments.models import PaymentMethod, Wallet, WalletEntry
from tests.accounts.factories import MemberFactory, staff


def method_for(
    user: User, market: Market, *, label: str = "KB국민", last4: str = "1234", kind: str = "card"
) -> PaymentMethod:
    """A saved method approved by the (running) sandbox provider."""
    return services.payment_method_add(user=user, market=market, kind=kind, label=label, last4=last4)


def funded_wallet(user: User, market: Market, amount: int) -> Wallet:
    """``user``'s wallet in ``market`` credited with ``amount`` by an ops adjustment."""
    ops = staff("ops_admin", email="ops-funding@staff.test")
    if amount:
        services.wallet_adjust(
            user=user,
            market=market,
            amount=amount,
            reason="test funding",
            actor=ops,
            reference=f"test:{uuid.uuid4()}",
        )
    return services.wallet_get_or_create(user=user, market=market)


def ledger_sum(wallet: Wallet) -> int:
    return sum(WalletEntry.objects.filter(wallet=wallet).values_list("amount", flat=True))


__all__ = ["MemberFactory", "funded_wallet", "ledger_sum", "method_for", "staff"]
