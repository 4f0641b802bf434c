"""The ledger and reservations are written by the services only: no role may add, change
or delete them by hand (the admin and the API follow the permissions)."""

from __future__ import annotations

import pytest

from apps.accounts.roles import ROLES, declared_grants, roles_sync

pytestmark = pytest.mark.django_db


def test_no_role_may_write_the_ledger_or_reservations_by_hand():
    roles_sync(strict=True)
    grants = declared_grants()

    writes = {
        (role, perm)
        for role in ROLES
        for perm in grants[role]
        if perm.split(".")[1].split("_", 1)[0] in ("add", "change", "delete")
        and perm.endswith(("_stockmovement", "_reservation"))
    }

    assert writes == set()


def test_inventory_staff_read_the_audit_and_adjust_stock():
    grants = declared_grants()

    for role in ("inventory_manager", "ops_admin"):
        assert {
            "inventory.view_stockmovement",
            "inventory.view_reservation",
            "inventory.change_stocklevel",
        } <= grants[role]
    for role in ("member", "cs_agent", "marketing_manager", "data_platform"):
        assert not {p for p in grants[role] if p.startswith("inventory.")}
