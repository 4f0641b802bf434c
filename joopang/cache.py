"""Django's Redis cache backend, minus a per-operation client construction.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` object for every
cache operation; its constructor registers ~170 response callbacks, about 0.1-0.2 ms of
pure Python each time. Clients are thread-safe wrappers around the (shared, fork-aware)
connection pool, so one client per pool is enough. And Redis down is a cache miss (below).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
import structlog
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]  # private: not in django-stubs
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]  # private
        return client


class JoopangRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient


# --- Redis down: a cache miss, not a 500 ------------------------------------------------------
#
# The cache holds nothing that is not also in the database (markets, category tree, popular
# list, prices' FX, campaign rules), so when Redis cannot be reached every operation answers
# like an empty cache: reads miss, writes are dropped. After a failure the backend does not
# ask Redis again for ``DOWN_SECONDS`` (each request would otherwise wait for its connect
# timeout on every operation), and logs ``cache.unavailable`` at most once per window.
# Code that needs Redis itself (the coupon gate, the sign-in throttles) uses the client
# directly and has its own fallback.

DOWN_SECONDS = 5.0
_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_logger = structlog.get_logger("joopang.cache")


class _Down:
    """This process's view of Redis: when it last failed."""

    until = 0.0

    @classmethod
    def skip(cls) -> bool:
        return time.monotonic() < cls.until

    @classmethod
    def failed(cls, operation: str, exc: Exception) -> None:
        if not cls.skip():
            _logger.warning("cache.unavailable", operation=operation, error=type(exc).__name__)
        cls.until = time.monotonic() + DOWN_SECONDS


def _tolerant(name: str, on_down: Callable[..., Any]) -> Callable[..., Any]:
    original = getattr(RedisCache, name)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _Down.skip():
            return on_down(*args, **kwargs)
        try:
            return original(self, *args, **kwargs)
        except _UNREACHABLE as exc:
            _Down.failed(name, exc)
            return on_down(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``RedisCache.{name}``; Redis unreachable: like an empty cache."
    return method


def _default(key: Any, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    return kwargs.get("default", default)


def _computed(key: Any, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    value = kwargs.get("default", default)
    return value() if callable(value) else value


_ON_DOWN: dict[str, Callable[..., Any]] = {
    "get": _default,
    "get_or_set": _computed,
    "get_many": lambda *a, **k: {},
    "has_key": lambda *a, **k: False,
    "set": lambda *a, **k: None,
    "set_many": lambda *a, **k: [],
    "add": lambda *a, **k: False,  # "not added": a debounce or a once-only marker holds back
    "touch": lambda *a, **k: False,
    "delete": lambda *a, **k: False,
    "delete_many": lambda *a, **k: None,
}
for _name, _on_down in _ON_DOWN.items():
    setattr(JoopangRedisCache, _name, _tolerant(_name, _on_down))
