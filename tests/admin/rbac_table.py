"""RBAC expectations for the stock ledger and reservations in the back office (issue 17,
"Back office"): read by inventory managers and ops admins only, written by nobody (the
read-only side is tests/admin/test_inventory_admin.py). Format: see tests/accounts/test_rbac.py."""

from __future__ import annotations

from tests.accounts.rbac_table import allow

ADMIN_MODELS: dict[str, dict[str, bool]] = {
    "inventory.stockmovement": allow("inventory_manager", "ops_admin"),
    "inventory.reservation": allow("inventory_manager", "ops_admin"),
}
