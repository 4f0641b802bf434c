"""Wallet and payment write use-cases (DESIGN.md §7 "Wallet").

- ``ledger``: the only code that moves a balance (credit, debit, staff adjustment).
- ``methods``: saved payment methods, approved by the provider.
- ``top_ups``: charge a method and credit the wallet; settle charges whose answer was lost.
- ``reconcile``: balance = ledger sum, and no charge pending too long.
"""

from apps.payments.services.charges import charge_begin, charge_refund, payment_method_for_charge
from apps.payments.services.ledger import (
    AMOUNT_MAX,
    Posted,
    adjustment_limit_for,
    entry_post,
    member_wallet_debit,
    parse_amount,
    wallet_adjust,
    wallet_credit,
    wallet_debit,
    wallet_get_or_create,
)
from apps.payments.services.methods import (
    looks_like_card_data,
    method_input_clean,
    payment_method_add,
    payment_method_remove,
)
from apps.payments.services.reconcile import ReconcileReport, wallets_reconcile
from apps.payments.services.top_ups import (
    TopUpResult,
    charge_send,
    charge_settle,
    charges_settle_pending,
    request_key_hash,
    top_up,
    top_up_begin,
)

__all__ = [
    "AMOUNT_MAX",
    "Posted",
    "ReconcileReport",
    "TopUpResult",
    "adjustment_limit_for",
    "charge_begin",
    "charge_refund",
    "charge_send",
    "charge_settle",
    "charges_settle_pending",
    "entry_post",
    "looks_like_card_data",
    "member_wallet_debit",
    "method_input_clean",
    "parse_amount",
    "payment_method_add",
    "payment_method_for_charge",
    "payment_method_remove",
    "request_key_hash",
    "top_up",
    "top_up_begin",
    "wallet_adjust",
    "wallet_credit",
    "wallet_debit",
    "wallet_get_or_create",
    "wallets_reconcile",
]
