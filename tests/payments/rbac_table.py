"""RBAC expectations for the wallet API (issue 19): the wallet, its ledger, payment methods
and top-ups are the member's own (guests 401; staff accounts and system clients 403); staff
adjustments need ``payments.adjust_wallet`` (cs_agent, ops_admin). Inventory and marketing
roles and the data platform get nothing. Format: see tests/accounts/test_rbac.py."""

from __future__ import annotations

from tests.accounts.rbac_table import allow

MEMBERS = allow("member")
WALLET_STAFF = allow("cs_agent", "ops_admin")

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    ("GET", "/api/v1/wallet"): MEMBERS,
    ("GET", "/api/v1/wallet/transactions"): MEMBERS,
    ("POST", "/api/v1/wallet/top-ups"): MEMBERS,
    ("GET", "/api/v1/wallet/top-ups/<str:id>"): MEMBERS,
    ("GET", "/api/v1/payment-methods"): MEMBERS,
    ("POST", "/api/v1/payment-methods"): MEMBERS,
    ("DELETE", "/api/v1/payment-methods/<str:id>"): MEMBERS,
    ("POST", "/api/v1/internal/wallets/<int:user_id>/adjustments"): WALLET_STAFF,
}
