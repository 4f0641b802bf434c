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


def test_redis_unreachable_is_an_empty_cache_and_is_not_asked_again_at_once(monkeypatch, caplog):
    # given: the backend pointed at a port where nothing listens (no Redis needed for this)
    from joopang import cache as backend

    monkeypatch.setattr(backend._Down, "until", 0.0)
    dead = JoopangRedisCache(
        "redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    )
    calls = []
    original = backend.RedisCache.get

    def counted(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(backend.RedisCache, "get", counted)
    monkeypatch.setattr(JoopangRedisCache, "get", backend._tolerant("get", backend._ON_DOWN["get"]))

    # then: every operation answers like an empty cache, none raises
    assert dead.get("k") is None
    assert dead.get("k", "fallback") == "fallback"
    assert dead.get_or_set("k", lambda: 42) == 42
    assert dead.get_many(["a", "b"]) == {}
    assert dead.add("k", 1) is False
    dead.set("k", 1)
    dead.delete("k")
    # ... and after the first failure Redis is not asked again for a while
    assert len(calls) == 1
    assert backend._Down.skip()
    # and a failed cache cannot pass for a working one: readiness reads back what it wrote
    assert dead.get("readyz") is None
