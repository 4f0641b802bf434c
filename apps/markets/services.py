"""Market use-cases: FX conversion with the market's rounding, cache invalidation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.cache import cache

from apps.core.money import Money, currency_exponent
from apps.core.rounding import round_to_increment
from apps.markets.models import Market
from apps.markets.selectors import _CACHE_KEY, fx_rate_get, market_map_forget_local


def fx_convert(
    money: Money, *, market: Market, rate: Decimal | None = None, at: dt.datetime | None = None
) -> Money:
    """Convert ``money`` into the market's currency, rounded by the market's rules.

    KR: to 10 won, half up; US: to 1 cent, half up. The rate is a ``Decimal``; no float
    ever touches the amount.

    Raises: market.fx_rate_unavailable.
    """
    target = market.currency
    if money.currency == target:
        return money
    if rate is None:
        rate = fx_rate_get(base=money.currency, quote=target, at=at)
    minor = (Decimal(money.amount).scaleb(-currency_exponent(money.currency)) * rate).scaleb(
        currency_exponent(target)
    )
    amount = round_to_increment(minor, increment=market.rounding_increment, mode=market.rounding_mode)
    return Money(amount, target)


def markets_cache_clear() -> None:
    """Call after editing a market so the change is served at once."""
    cache.delete(_CACHE_KEY)
    market_map_forget_local()
