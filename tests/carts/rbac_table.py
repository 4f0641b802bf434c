"""RBAC expectations for the cart API (issue 18): guests (a guest cart, ``X-Cart-Token``)
and members shop; staff accounts and system clients (data_platform) are refused with 403.
The merge needs a signed-in member. Format: see tests/accounts/test_rbac.py."""

from __future__ import annotations

from tests.accounts.rbac_table import allow

SHOPPERS = allow("guest", "member")
MEMBERS = allow("member")

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    ("POST", "/api/v1/carts"): SHOPPERS,
    ("GET", "/api/v1/carts/current"): SHOPPERS,
    ("POST", "/api/v1/carts/current/items"): SHOPPERS,
    ("PATCH", "/api/v1/carts/current/items/<str:sku>"): SHOPPERS,
    ("DELETE", "/api/v1/carts/current/items/<str:sku>"): SHOPPERS,
    ("GET", "/api/v1/carts/current/totals"): SHOPPERS,
    ("POST", "/api/v1/carts/current/merge"): MEMBERS,
}

API_SAMPLE_PATHS: dict[tuple[str, str], str] = {
    ("PATCH", "/api/v1/carts/current/items/<str:sku>"): "/api/v1/carts/current/items/SAMPLE-1",
    ("DELETE", "/api/v1/carts/current/items/<str:sku>"): "/api/v1/carts/current/items/SAMPLE-1",
}
