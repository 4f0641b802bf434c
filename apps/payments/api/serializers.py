"""Shapes of the wallet API (API.md "Wallet"): output serializers for the OpenAPI document
and the functions that build the JSON from models.

Members never see staff data here: a ledger row's ``description`` is the localized kind
label only (an adjustment's reason is for the audit, not for the member), and its
reference names no staff member.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from rest_framework import serializers

from apps.catalog.api.views import MoneySerializer  # the one Money component of the schema
from apps.catalog.presenters import money_json
from apps.core.money import Money
from apps.markets.models import Market
from apps.payments.models import Charge, PaymentMethod, Wallet, WalletEntry

_DATETIME = serializers.DateTimeField()


def _language() -> str:
    return translation.get_language() or "en"


class WalletSerializer(serializers.Serializer):
    balance = MoneySerializer()
    currency = serializers.CharField(help_text="KRW for KR, USD for US.")
    market = serializers.CharField()


def wallet_json(*, wallet: Wallet | None, market: Market) -> dict[str, Any]:
    """The member's wallet in ``market``; before first use a zero balance (no row made)."""
    balance = wallet.balance if wallet is not None else 0
    return {
        "balance": money_json(Money(balance, market.currency), _language()),
        "currency": market.currency,
        "market": market.code,
    }


class TransactionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(
        help_text="One of " + ", ".join(f"`{v}`" for v in WalletEntry.Kind.values) + "."
    )
    amount = MoneySerializer(help_text="Signed: a credit is positive, a debit negative.")
    balance_after = MoneySerializer()
    reference = serializers.CharField(
        help_text="Our idempotency reference of the change, e.g. `charge:<top-up id>`."
    )
    created_at = serializers.DateTimeField()
    description = serializers.CharField(help_text="The kind, in the request language.")


def transaction_json(entry: WalletEntry, *, currency: str) -> dict[str, Any]:
    language = _language()
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "amount": money_json(Money(entry.amount, currency), language),
        "balance_after": money_json(Money(entry.balance_after, currency), language),
        "reference": entry.reference,
        "created_at": _DATETIME.to_representation(entry.created_at),
        "description": str(WalletEntry.Kind(entry.kind).label),
    }


class TransactionListSerializer(serializers.Serializer):
    results = TransactionSerializer(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class PaymentMethodSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Random, not sequential.")
    kind = serializers.ChoiceField(choices=PaymentMethod.Kind.values)
    label = serializers.CharField(  # type: ignore[assignment]  # a field named "label"
        help_text='The name the member gave, e.g. "KB국민".'
    )
    last4 = serializers.CharField()
    display_label = serializers.CharField(help_text='E.g. "KB국민 ****1234".')
    market = serializers.CharField(help_text="The market it was registered for; it pays only there.")
    created_at = serializers.DateTimeField()


def payment_method_json(method: PaymentMethod) -> dict[str, Any]:
    return {
        "id": str(method.public_id),
        "kind": method.kind,
        "label": method.label,
        "last4": method.last4,
        "display_label": method.display_label,
        "market": method.market_id,
        "created_at": _DATETIME.to_representation(method.created_at),
    }


class TopUpSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The top-up's reference (poll `GET /wallet/top-ups/{id}`).")
    status = serializers.CharField(
        help_text="`pending`, `succeeded` or `failed`. `pending`: the provider's answer is not "
        "known yet; the wallet is credited once it is (poll the top-up). `failed`: nothing was charged.",
    )
    amount = MoneySerializer()
    payment_method_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()


def top_up_json(charge: Charge, *, payment_method_id: str) -> dict[str, Any]:
    return {
        "id": str(charge.reference),
        "status": charge.status,
        "amount": money_json(Money(charge.amount, charge.currency), _language()),
        "payment_method_id": payment_method_id,
        "created_at": _DATETIME.to_representation(charge.created_at),
    }
