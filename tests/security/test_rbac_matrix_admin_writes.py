"""The role matrix (tests/security/test_rbac_matrix.py) over every model registered in the
admin: its add page and an empty form posted to its change page, for all seven roles. Who may add, change and delete: ``ADMIN_WRITES`` in
tests/security/route_table.py; who may view (history): the changelist tables of
tests/accounts/test_rbac.py. A module of its own so that CI's ``--dist loadfile`` runs
it beside the other parts of the matrix."""

from __future__ import annotations

import pytest

from tests.accounts.test_rbac import admin_model_labels
from tests.security.matrix import check_admin_views, world  # noqa: F401  (world: the module's objects)

VIEWS = ("add", "change")


@pytest.mark.django_db
@pytest.mark.parametrize("label", sorted(admin_model_labels()))
def test_admin_model_views(world, label):  # noqa: F811
    check_admin_views(world, label, VIEWS)
