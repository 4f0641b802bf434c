from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.markets.selectors import market_get


@pytest.fixture
def kr():
    return market_get("KR")


@pytest.fixture
def us():
    return market_get("US")


@pytest.fixture
def warm_cache(db):
    """Fill the per-process caches (markets, FX, category tree) so query counts measure
    only the endpoint's own queries."""

    def warm(client):
        client.get("/api/v1/categories")
        client.get("/api/v1/products?limit=1", HTTP_X_MARKET="US")
        client.get("/api/v1/products?limit=1", HTTP_X_MARKET="KR")

    yield warm
    cache.clear()
