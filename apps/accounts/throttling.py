"""Rate limits for sign-in, registration and the token endpoint: sliding windows.

Each scope's setting (``AUTH_LOGIN_RATE``, ``AUTH_REGISTER_RATE``, ``AUTH_TOKEN_RATE``) is one
or more comma-separated ``"<count>/<second|minute|hour|day>"``: at most ``count`` requests
from one client address in ANY interval of that length (a sliding window, not a calendar
minute: fixed windows let twice the limit through around a boundary). ``"0/..."`` or an
empty string disables the scope. Only allowed requests are recorded, so a caller over the
limit gets in again as soon as its oldest recorded request leaves the window.

The log of recent requests lives where every process sees it and is updated atomically:

- with Redis as the cache (production), in a sorted set per key, pruned, checked and
  appended by one Lua script (Redis runs scripts one at a time); if Redis cannot be
  reached, in the database as below (the limit holds, only slower);
- otherwise (local-memory cache, i.e. ``make run`` and the SQLite test run), in one
  :class:`~apps.accounts.models.RateLimitWindow` row per key, read and written under a row
  lock (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` transactions
  serialize writers), never in process memory.

Time comes from :func:`apps.core.clock.now` (tests move it; no sleeps).

Client addresses: with ``AUTH_TRUSTED_PROXY_COUNT`` proxies in front, the address the
outermost trusted proxy saw; an IPv6 address counts as its /64 network (one subscriber
usually holds a whole /64, so per-address limits would otherwise not bind).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from apps.accounts.models import RateLimitWindow
from apps.core import clock
from apps.core.errors import Throttled

logger = logging.getLogger(__name__)

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
SCOPES = {"login": "AUTH_LOGIN_RATE", "register": "AUTH_REGISTER_RATE", "token": "AUTH_TOKEN_RATE"}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds


def parse_rate(rate: str) -> tuple[int, int] | None:
    """``"10/minute"`` -> (10, 60); ``None`` when disabled."""
    if not rate or not rate.strip():
        return None
    count, _, period = rate.strip().partition("/")
    num = int(count)
    if num <= 0:
        return None
    return num, PERIODS[period.strip().lower()]


def parse_rates(value: str) -> list[Rate]:
    """``"20/minute,200/hour"`` -> both windows; disabled parts are left out."""
    rates = []
    for part in (value or "").split(","):
        parsed = parse_rate(part)
        if parsed is not None:
            rates.append(Rate(*parsed))
    return rates


@lru_cache(maxsize=4096)  # per request (the request id's log context, both gates): parse once
def _valid_ip(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False).network_address)
    return str(address)


def client_address(request: Any) -> str | None:
    """The caller's address as throttles and the lockout key it (a valid IP, IPv6 as its
    /64 network), or ``None`` when the request carries none."""
    meta = getattr(request, "META", {})
    hops = settings.AUTH_TRUSTED_PROXY_COUNT
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if hops > 0 and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            chosen = _valid_ip(addresses[-min(hops, len(addresses))])
            if chosen is not None:
                return chosen
    return _valid_ip(meta.get("REMOTE_ADDR", "") or "")


def client_ip(request: Any) -> str:
    """:func:`client_address`, or ``"unknown"`` (all address-less callers share one key)."""
    return client_address(request) or "unknown"


# --- The sliding-window log ----------------------------------------------------------------

# KEYS[1]: the sorted set (member: a unique id, score: the request time in seconds).
# ARGV: now, member, then limit/period pairs. Returns "0" (allowed, recorded) or the
# seconds to wait, as a string (Lua numbers become integers in replies).
_LUA_SLIDING_WINDOW = """
local now = tonumber(ARGV[1])
local longest = 0
for i = 3, #ARGV, 2 do
  local period = tonumber(ARGV[i + 1])
  if period > longest then longest = period end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local total = redis.call('ZCARD', KEYS[1])
local wait = 0
for i = 3, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local period = tonumber(ARGV[i + 1])
  local inside = redis.call('ZCOUNT', KEYS[1], '(' .. (now - period), '+inf')
  if inside >= limit then
    local entry = redis.call('ZRANGE', KEYS[1], total - limit, total - limit, 'WITHSCORES')
    local leaves = tonumber(entry[2]) + period - now
    if leaves > wait then wait = leaves end
  end
end
if wait > 0 then
  return tostring(wait)
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(longest * 1000))
return '0'
"""
_scripts: dict[int, Any] = {}


def _window_wait(hits: list[float], rates: list[Rate], now: float) -> float:
    """Seconds until a request at ``now`` fits every window (0 = it fits now).

    ``hits``: ascending request times still inside the longest window.
    """
    wait = 0.0
    for rate in rates:
        inside = [t for t in hits if t > now - rate.period]
        if len(inside) >= rate.limit:
            # The request that must leave the window for one more to fit.
            leaving = inside[len(inside) - rate.limit]
            wait = max(wait, leaving + rate.period - now)
    return wait


def _hit_redis(backend: RedisCache, key: str, rates: list[Rate], now: float) -> float:
    client = backend._cache.get_client(key, write=True)  # Django's RedisCacheClient
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_LUA_SLIDING_WINDOW)
    args: list[Any] = [repr(now), uuid.uuid4().hex]
    for rate in rates:
        args += [rate.limit, rate.period]
    return float(script(keys=[backend.make_key(key)], args=args))


def _hit_database(key: str, rates: list[Rate], now: float) -> float:
    longest = max(rate.period for rate in rates)
    expires_at = clock.now() + timedelta(seconds=longest)
    # Concurrency: the row is created if missing (INSERT … ON CONFLICT DO NOTHING), then
    # locked; the check and the append happen under that lock, so N processes racing on
    # one key admit exactly ``limit`` of them.
    with transaction.atomic():
        RateLimitWindow.objects.bulk_create(
            [RateLimitWindow(key=key, hits=[], expires_at=expires_at)], ignore_conflicts=True
        )
        row = RateLimitWindow.objects.select_for_update().get(key=key)
        hits = sorted(float(t) for t in row.hits if float(t) > now - longest)
        wait = _window_wait(hits, rates, now)
        if wait <= 0:
            hits.append(now)
            row.hits, row.expires_at = hits, expires_at
            row.save(update_fields=["hits", "expires_at"])
    if random.random() < 0.01:
        RateLimitWindow.objects.filter(expires_at__lt=clock.now()).delete()
    return wait


def sliding_window_hit(key: str, rates: list[Rate]) -> int | None:
    """Record one request under ``key`` if every window has room; else the whole seconds
    to wait (at least 1). Shared by all processes (Redis or the database)."""
    if not rates:
        return None
    now = clock.now().timestamp()
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        try:
            wait = _hit_redis(backend, key, rates, now)
        except RedisError:
            # Redis only accelerates: without it the limit still holds, in the database.
            logger.warning("rate_limit_redis_unavailable", exc_info=True)
            wait = _hit_database(key, rates, now)
    else:
        wait = _hit_database(key, rates, now)
    if wait <= 0:
        return None
    return max(1, math.ceil(wait))


def rate_limit_hit(scope: str, ident: str) -> int | None:
    """Count one request of ``scope`` from ``ident``; seconds to wait when over, else ``None``."""
    return sliding_window_hit(f"throttle:{scope}:{ident}", parse_rates(getattr(settings, SCOPES[scope])))


def throttled_error(wait: int) -> Throttled:
    err = Throttled(retry_after=wait)
    err.headers["Retry-After"] = str(wait)
    return err


def throttle_check(scope: str, request: Any) -> None:
    """Raises: request.throttled (429, ``Retry-After``)."""
    wait = rate_limit_hit(scope, client_ip(request))
    if wait is not None:
        raise throttled_error(wait)


class AuthScopeThrottle(BaseThrottle):
    """DRF throttle for a scope of :data:`SCOPES`; set ``throttle_scope`` on the view."""

    def allow_request(self, request: Any, view: Any) -> bool:
        self._wait = rate_limit_hit(view.throttle_scope, client_ip(request))
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
