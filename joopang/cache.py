"""Django's Redis cache backend, minus a per-operation client construction.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` object for every
cache operation; its constructor registers ~170 response callbacks, about 0.1-0.2 ms of
pure Python each time. Clients are thread-safe wrappers around the (shared, fork-aware)
connection pool, so one client per pool is enough. Behaviour is otherwise Django's.
"""

from __future__ import annotations

from typing import Any

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
