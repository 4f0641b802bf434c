"""Reads of markets and FX rates.

Markets are read on every request (locale and market resolution), so they are cached in
two layers: the shared Django cache (``MARKETS_CACHE_SECONDS``) and a per-process copy for
``MARKETS_LOCAL_SECONDS`` that saves a cache round trip and an unpickle per request. An
edit through :func:`apps.markets.services.markets_cache_clear` shows at once in the
editing process and within both TTLs elsewhere. This is configuration, never a counter:
nothing correctness-critical depends on it being fresh.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from django.core.cache import cache

from apps.core import clock
from apps.markets.errors import FxRateUnavailable, UnknownMarket
from apps.markets.models import FxRate, Market

_CACHE_KEY = "markets:active:v1"
MARKETS_CACHE_SECONDS = 60
MARKETS_LOCAL_SECONDS = 10
# (expires at, markets by code): replaced whole, so readers in other threads never see
# a half-built value.
_local: tuple[float, dict[str, Market]] | None = None


def market_map() -> dict[str, Market]:
    """Active markets by code (cached; see the module docstring)."""
    global _local
    now = time.monotonic()
    local = _local
    if local is not None and local[0] > now:
        return local[1]
    markets: dict[str, Market] | None = cache.get(_CACHE_KEY)
    if markets is None:
        markets = {m.code: m for m in Market.objects.filter(is_active=True)}
        cache.set(_CACHE_KEY, markets, MARKETS_CACHE_SECONDS)
    _local = (now + MARKETS_LOCAL_SECONDS, markets)
    return markets


def market_map_forget_local() -> None:
    """Drop this process's copy (the shared cache is cleared by the service)."""
    global _local
    _local = None


def market_list() -> list[Market]:
    return list(market_map().values())


def market_get(code: str) -> Market:
    """Raises: market.unknown."""
    market = market_map().get((code or "").upper())
    if market is None:
        raise UnknownMarket(market=code)
    return market


def fx_rate_get(*, base: str, quote: str, at: dt.datetime | None = None) -> Decimal:
    """The rate turning 1 ``base`` into ``quote`` at ``at``; inverse pairs are used too.

    Raises: market.fx_rate_unavailable.
    """
    if base == quote:
        return Decimal(1)
    at = at or clock.now()
    direct = (
        FxRate.objects.filter(base_currency=base, quote_currency=quote, valid_from__lte=at)
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )
    if direct is not None:
        return Decimal(direct)
    inverse = (
        FxRate.objects.filter(base_currency=quote, quote_currency=base, valid_from__lte=at)
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )
    if inverse is not None:
        return Decimal(1) / Decimal(inverse)
    raise FxRateUnavailable(base=base, quote=quote)
