"""Reads of markets and FX rates. Markets are read on every request, so they are cached
briefly (``MARKETS_CACHE_SECONDS``); edits through :func:`markets_cache_clear` show at once
in this process and within the TTL elsewhere."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.cache import cache

from apps.core import clock
from apps.markets.errors import FxRateUnavailable, UnknownMarket
from apps.markets.models import FxRate, Market

_CACHE_KEY = "markets:active:v1"
MARKETS_CACHE_SECONDS = 60


def market_map() -> dict[str, Market]:
    """Active markets by code (cached)."""
    markets: dict[str, Market] | None = cache.get(_CACHE_KEY)
    if markets is None:
        markets = {m.code: m for m in Market.objects.filter(is_active=True)}
        cache.set(_CACHE_KEY, markets, MARKETS_CACHE_SECONDS)
    return markets


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
