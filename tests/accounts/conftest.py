from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.accounts.models import User


def bearer(client: APIClient, user: User) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(user)}")
    return client


@pytest.fixture
def member(db):
    from tests.accounts.factories import MemberFactory

    return MemberFactory(email="minji@example.test", name="김민지")


@pytest.fixture
def markets_present(transactional_db):
    """Transactional tests flush the database; make sure the seeded markets are back
    and the role groups (serialized_rollback alone did not restore them after another
    transactional test in some orders, and it inhibits post_migrate)."""
    import importlib

    from django.apps import apps

    from apps.markets.models import Market
    from apps.markets.services import markets_cache_clear

    if Market.objects.filter(code__in=["KR", "US"]).count() != 2:
        importlib.import_module("apps.markets.migrations.0002_seed_markets").seed(apps, None)
    markets_cache_clear()
    from apps.accounts.roles import roles_sync

    roles_sync(strict=False)
