"""RBAC expectations for the staff inventory routes of issue 17 (stock per warehouse,
adjustments, the audit): inventory managers and ops admins only. Format: see
tests/accounts/test_rbac.py. (Availability, open to every caller, is in the catalog table.)"""

from __future__ import annotations

from tests.accounts.rbac_table import allow

STOCK_STAFF = allow("inventory_manager", "ops_admin")

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    ("GET", "/api/v1/inventory/stock/<str:sku>"): STOCK_STAFF,
    ("POST", "/api/v1/inventory/adjustments"): STOCK_STAFF,
    ("GET", "/api/v1/inventory/adjustments"): STOCK_STAFF,
}

API_SAMPLE_PATHS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/inventory/stock/<str:sku>"): "/api/v1/inventory/stock/SAMPLE-1",
}
