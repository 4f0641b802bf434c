"""Coupon fixtures: the markets, an active-campaign helper, and a Redis cache of our own."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches

from apps.accounts.models import User
from apps.markets.models import Market
from tests.coupons.factories import active_campaign

#: The Redis database these tests use for the gate (kept apart from the test run's cache db,
#: 1 + the xdist worker's number): one per worker, since the fixture empties it and two
#: workers' coupon tests sharing one emptied each other's counters.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
COUPONS_REDIS_DB = int(
    os.environ.get("COUPONS_REDIS_DB") or 12 - (int(_WORKER) % 3 if _WORKER.isdigit() else 0)
)


def redis_location(db: int = COUPONS_REDIS_DB) -> str:
    host = os.environ.get("COUPONS_REDIS_HOST", "127.0.0.1:6379")
    return f"redis://{host}/{db}"


def redis_caches(location: str) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "joopang.cache.JoopangRedisCache",
            "LOCATION": location,
            "KEY_PREFIX": "joopang-coupons-test",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }


def locmem_caches() -> dict[str, Any]:
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "coupons"}}


@pytest.fixture
def kr(db) -> Market:
    return Market.objects.get(code="KR")


@pytest.fixture
def us(db) -> Market:
    return Market.objects.get(code="US")


@pytest.fixture
def marketer(db) -> User:
    from tests.accounts.factories import staff

    return staff("marketing_manager")


@pytest.fixture
def campaign(db, marketer) -> Callable[..., Any]:
    """``campaign(**overrides)``: an active campaign (services.campaign_create +
    campaign_transition) running now in KR by default, 1,000 won off, unlimited."""

    def make(**overrides: Any) -> Any:
        return active_campaign(actor=marketer, **overrides)

    return make


@pytest.fixture
def redis_cache(settings) -> Iterator[Any]:
    """The default cache is a JoopangRedisCache on our own Redis db, cleared; skipped when
    Redis is unreachable."""
    import redis

    location = redis_location()
    try:
        redis.Redis.from_url(location, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001
        pytest.skip(f"Redis not reachable at {location}")
    settings.CACHES = redis_caches(location)
    cache = caches["default"]
    cache.clear()
    yield cache
    cache.clear()


#: A fixed "now" (whole seconds, so event payloads show exact ISO strings).
NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen(monkeypatch) -> dt.datetime:
    """``clock.now()`` answers NOW for the whole test."""
    from apps.core import clock

    monkeypatch.setattr(clock, "now", lambda: NOW)
    return NOW
