"""Shared fixtures. Tests run on SQLite by default and on PostgreSQL when DATABASE_URL
points there (CI runs both); ``@pytest.mark.postgres`` tests need the real thing."""

from __future__ import annotations

import os
import shutil

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chromium = shutil.which(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")) or shutil.which("chromium")
    require_browser = os.environ.get("REQUIRE_BROWSER") == "1"
    for item in items:
        if "e2e" in item.keywords and not chromium and not require_browser:
            item.add_marker(pytest.mark.skip(reason="Chromium not installed (apt-get install chromium)"))


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    from apps.accounts.tokens import verified_tokens_forget
    from apps.catalog.selectors import category_tree_forget_local
    from apps.coupons.selectors import campaign_scopes_forget
    from apps.coupons.services.claims import campaign_rules_forget_local
    from apps.markets.services import markets_cache_clear

    cache.clear()
    campaign_rules_forget_local()  # the per-process copy of campaigns' claim rules
    campaign_scopes_forget()  # the per-process copy of running campaigns' reach (badges)
    markets_cache_clear()  # also the per-process copy of the markets
    category_tree_forget_local()  # the per-process copy of the category tree
    verified_tokens_forget()  # the per-process memo of verified access tokens


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://... (CI does)")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
