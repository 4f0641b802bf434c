"""The flash-sale gate: one atomic Lua script per claim in Redis, before the database.

Why: when thousands press "claim" in the same second, almost every request is a sold-out or a
duplicate. Answering those from Redis keeps them off the campaign's row in PostgreSQL, whose
conditional ``UPDATE`` serialises the claims that really issue a coupon.

Correctness never depends on the gate: the database's conditional increment and unique
constraint decide. The gate only has to be *conservative about saying no*, and it is:

- it is primed from the database (``remaining`` = total - issued, per-member counts) by the
  first claim that finds it missing (``prime`` is atomic: the first primer wins), so a Redis
  restart or flush mid-sale rebuilds it; while it is missing, claims go to the database;
- a claim the gate let through but the database refused gives its slot back, except when
  the database said "sold out" (the gate is set to 0) or "already claimed" (the member's
  count is set to what the database holds) — so a stale gate heals instead of sending every
  later claim to the database;
- without Redis (``REDIS_URL`` unset) there is no gate and the database path alone is right.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from apps.core import clock
from apps.coupons import metrics

logger = structlog.get_logger("apps.coupons")

OK, DUPLICATE, SOLD_OUT, UNPRIMED, NO_GATE = "ok", "duplicate", "sold_out", "unprimed", "no_gate"

# KEYS[4] and KEYS[5] count the refusals the gate gives (already claimed, sold out) for the
# campaign's stats page, in the same round trip: the keys are the cache's own
# (``metrics.rejected_key``), so ``cache.get_many`` reads them back as integers.
_CLAIM = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local have = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if have >= tonumber(ARGV[2]) then redis.call('INCR', KEYS[4]) return 2 end
if ARGV[3] == '1' then
  local left = tonumber(redis.call('GET', KEYS[1]) or '0')
  if left <= 0 then redis.call('INCR', KEYS[5]) return 3 end
  redis.call('DECR', KEYS[1])
end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1
"""
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if ARGV[2] == '1' then redis.call('INCR', KEYS[1]) end
local have = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if have > 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], -1) end
return 1
"""
_PRIME = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[1], ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[3], '1')
local ttl = tonumber(ARGV[2])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
return 1
"""
_scripts: dict[tuple[int, str], Any] = {}


def _backend() -> RedisCache | None:
    # The backend itself: ``django.core.cache.cache`` is a proxy, never an instance of RedisCache.
    backend = caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def _run(name: str, source: str, keys: list[str], args: list[Any]) -> int | None:
    backend = _backend()
    if backend is None:
        return None
    try:
        client = backend._cache.get_client(keys[0], write=True)  # Django's RedisCacheClient
        script = _scripts.get((id(client), name))
        if script is None:
            script = _scripts[(id(client), name)] = client.register_script(source)
        return int(script(keys=[backend.make_key(k) for k in keys], args=args))
    except Exception as exc:  # noqa: BLE001 - Redis down: the database decides alone
        logger.warning("coupons.gate_unavailable", error=type(exc).__name__)
        return None


def _keys(campaign_id: int) -> list[str]:
    return [
        f"coupons:gate:{campaign_id}:remaining",
        f"coupons:gate:{campaign_id}:claims",
        f"coupons:gate:{campaign_id}:primed",
    ]


def claim(*, campaign_id: int, user_id: int, per_user_limit: int, limited: bool) -> str:
    """Ask the gate for a slot: ``ok`` (taken; give it back if the database refuses),
    ``duplicate``, ``sold_out``, ``unprimed`` (go to the database, then ``prime``) or
    ``no_gate`` (no Redis). A ``duplicate`` or ``sold_out`` answer is already counted in the
    campaign's rejected claims (``metrics.rejected_counts``)."""
    keys = [
        *_keys(campaign_id),
        metrics.rejected_key(campaign_id, "coupon.already_claimed"),
        metrics.rejected_key(campaign_id, "coupon.sold_out"),
    ]
    answer = _run("claim", _CLAIM, keys, [user_id, per_user_limit, "1" if limited else "0"])
    return {None: NO_GATE, -1: UNPRIMED, 1: OK, 2: DUPLICATE, 3: SOLD_OUT}.get(answer, NO_GATE)


def give_back(*, campaign_id: int, user_id: int, limited: bool) -> None:
    _run("give_back", _GIVE_BACK, _keys(campaign_id), [user_id, "1" if limited else "0"])


def mark_sold_out(*, campaign_id: int) -> None:
    backend = _backend()
    if backend is not None:
        try:
            client = backend._cache.get_client(write=True)
            client.set(backend.make_key(_keys(campaign_id)[0]), 0, keepttl=True)
        except Exception:  # noqa: BLE001
            logger.warning("coupons.gate_unavailable", op="mark_sold_out")


def sync_member(*, campaign_id: int, user_id: int, count: int) -> None:
    backend = _backend()
    if backend is not None:
        try:
            client = backend._cache.get_client(write=True)
            key = backend.make_key(_keys(campaign_id)[1])
            if client.exists(key):
                client.hset(key, user_id, count)
        except Exception:  # noqa: BLE001
            logger.warning("coupons.gate_unavailable", op="sync_member")


def prime(*, campaign_id: int, remaining: int, claims: dict[int, int], ends_at: dt.datetime) -> bool:
    """Build the gate from the database's numbers (the first primer wins)."""
    ttl = max(int((ends_at - clock.now()).total_seconds()) + 86400, 60)
    args: list[Any] = [remaining, ttl]
    for user_id, count in claims.items():
        args += [user_id, count]
    return _run("prime", _PRIME, _keys(campaign_id), args) == 1


def forget(*, campaign_id: int) -> None:
    """Drop the gate (a campaign edited: quantity or limits changed); the next claim primes it."""
    backend = _backend()
    if backend is not None:
        try:
            backend.delete_many(_keys(campaign_id))
        except Exception:  # noqa: BLE001
            logger.warning("coupons.gate_unavailable", op="forget")
