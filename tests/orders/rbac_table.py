"""RBAC expectations for the orders API (issue 20): a member's orders are their own (guests
401; staff accounts and system clients 403); the internal transition endpoint needs
``orders.transition_order`` (cs_agent, ops_admin). Inventory and marketing roles and the
data platform get nothing. Format: see tests/accounts/test_rbac.py."""

from __future__ import annotations

from tests.accounts.rbac_table import allow

MEMBERS = allow("member")
ORDER_STAFF = allow("cs_agent", "ops_admin")

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    ("GET", "/api/v1/orders"): MEMBERS,
    ("POST", "/api/v1/orders"): MEMBERS,
    ("GET", "/api/v1/orders/<str:id>"): MEMBERS,
    ("POST", "/api/v1/orders/<str:id>/payments"): MEMBERS,
    ("POST", "/api/v1/orders/<str:id>/cancel"): MEMBERS,
    ("POST", "/api/v1/orders/<str:id>/refunds"): MEMBERS,
    ("POST", "/api/v1/internal/orders/<str:id>/transitions"): ORDER_STAFF,
}
