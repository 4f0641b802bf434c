"""The wallet's part of a member's data request and account deletion (accounts'
``member_export`` / ``user_delete`` find this module by name).

Deletion keeps the wallet, its ledger and the charges: they are financial records the law
makes us keep, and they name no one once the user row is anonymised. What goes is what
only identifies a person's instruments: saved methods are removed, their labels and last
digits blanked, and their provider tokens made unusable.
"""

from __future__ import annotations

from typing import Any

from apps.accounts.models import User
from apps.core import clock
from apps.payments.models import Charge, PaymentMethod, Wallet, WalletEntry


def export(user: User) -> dict[str, Any]:
    return {
        "wallets": [
            {
                "currency": wallet.currency,
                "market": wallet.market_id,
                "balance": wallet.balance,
                "ledger": [
                    {
                        "kind": entry.kind,
                        "amount": entry.amount,
                        "balance_after": entry.balance_after,
                        "reference": entry.reference,
                        "at": entry.created_at.isoformat(),
                    }
                    for entry in WalletEntry.objects.filter(wallet=wallet).order_by("created_at", "pk")
                ],
            }
            for wallet in Wallet.objects.filter(user=user).order_by("pk")
        ],
        "payment_methods": [
            {
                "kind": method.kind,
                "label": method.display_label,
                "status": method.status,
                "added_at": method.created_at.isoformat(),
            }
            for method in PaymentMethod.objects.filter(user=user).order_by("pk")
        ],
        "charges": [
            {
                "reference": str(charge.reference),
                "purpose": charge.purpose,
                "amount": charge.amount,
                "currency": charge.currency,
                "status": charge.status,
                "at": charge.created_at.isoformat(),
            }
            for charge in Charge.objects.filter(user=user).order_by("pk")
        ],
    }


def erase(user: User) -> None:
    now = clock.now()
    for method in PaymentMethod.objects.filter(user=user):
        PaymentMethod.objects.filter(pk=method.pk).update(
            status=PaymentMethod.Status.REMOVED,
            removed_at=method.removed_at or now,
            label="",
            last4="",
            provider_token=f"erased:{method.public_id}",
        )
