"""The Redis cache backend keeps one client per pool and behaves like Django's."""

import pytest
from django.conf import settings

from joopang.cache import JoopangRedisCache


@pytest.fixture
def redis_cache():
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (CI's PostgreSQL + Redis run)")
    cache = JoopangRedisCache(
        settings.REDIS_URL.rsplit("/", 1)[0] + "/14", {"KEY_PREFIX": "joopang-cache-test"}
    )
    yield cache
    cache.clear()


def test_operations_round_trip_and_reuse_one_client(redis_cache):
    redis_cache.set("k", {"a": 1}, timeout=30)
    assert redis_cache.get("k") == {"a": 1}
    assert redis_cache.add("k", "other") is False
    redis_cache.set("n", 1)
    assert redis_cache.incr("n", 5) == 6
    assert redis_cache.get_many(["k", "n", "missing"]) == {"k": {"a": 1}, "n": 6}
    redis_cache.delete("k")
    assert redis_cache.get("k", "gone") == "gone"
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache._cache.get_client(write=True) is client


def test_project_cache_uses_it_when_redis_is_configured():
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    from django.core.cache import caches

    assert type(caches["default"]) is JoopangRedisCache
