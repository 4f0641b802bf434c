"""Effective prices: a sale applies inside its window; a market without an explicit
price falls back to an FX conversion of the base market's price, rounded by the target
market's rules (``apps.markets.services.fx_convert``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from apps.core.money import Money
from apps.markets.models import Market
from apps.markets.selectors import fx_rate_get
from apps.markets.services import fx_convert

FX_CACHE_SECONDS = 60


@dataclass(frozen=True, slots=True)
class PriceRow:
    """A stored price, as read from MarketPrice or ProductListing."""

    currency: str
    list_price: int
    sale_price: int | None
    sale_starts_at: dt.datetime | None
    sale_ends_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class EffectivePrice:
    price: Money
    list_price: Money
    sale_price: Money | None
    sale_ends_at: dt.datetime | None
    on_sale: bool
    from_fx: bool

    @property
    def discount_percent(self) -> int:
        """The sale's own percentage. A stored price shows it rounded down (never more than
        the shopper saves). A price converted from another market's (FX) is the source
        sale's percentage moved by the two roundings of the conversion (list and sale
        price each to the target's increment: a 10 % sale in won is 9.98 % in dollars), so
        it is shown to the nearest percent: "10 %", as in the source market, not "9 %"."""
        if not self.on_sale or self.list_price.amount <= 0:
            return 0
        saved = self.list_price.amount - self.price.amount
        if self.from_fx:
            return int((saved * 200 + self.list_price.amount) // (self.list_price.amount * 2))
        return int(saved * 100 // self.list_price.amount)


def sale_active(row: PriceRow, now: dt.datetime) -> bool:
    return (
        row.sale_price is not None
        and (row.sale_starts_at is None or row.sale_starts_at <= now)
        and (row.sale_ends_at is None or now < row.sale_ends_at)
    )


def next_boundary(row: PriceRow, now: dt.datetime) -> dt.datetime | None:
    """The next instant at which this row's effective price changes, if any."""
    if row.sale_price is None:
        return None
    future = [t for t in (row.sale_starts_at, row.sale_ends_at) if t is not None and t > now]
    return min(future) if future else None


def effective(row: PriceRow, now: dt.datetime, *, from_fx: bool = False) -> EffectivePrice:
    on_sale = sale_active(row, now)
    list_money = Money(int(row.list_price), row.currency)
    sale_money = Money(int(row.sale_price), row.currency) if row.sale_price is not None else None
    return EffectivePrice(
        price=sale_money if on_sale and sale_money is not None else list_money,
        list_price=list_money,
        sale_price=sale_money,
        sale_ends_at=row.sale_ends_at if on_sale else None,
        on_sale=on_sale,
        from_fx=from_fx,
    )


def fx_rate_cached(base: str, quote: str) -> Decimal:
    """The current rate, cached briefly: a product page must not pay two queries for it.

    Raises: market.fx_rate_unavailable.
    """
    key = f"catalog:fx:{base}:{quote}"
    rate = cache.get(key)
    if rate is None:
        rate = fx_rate_get(base=base, quote=quote)
        cache.set(key, rate, FX_CACHE_SECONDS)
    return Decimal(rate)


def convert_row(row: PriceRow, market: Market) -> PriceRow:
    """``row`` (another market's price) in ``market``'s currency, rounded by its rules."""
    if row.currency == market.currency:
        return row
    rate = fx_rate_cached(row.currency, market.currency)

    def conv(amount: int) -> int:
        return fx_convert(Money(int(amount), row.currency), market=market, rate=rate).amount

    list_price = conv(row.list_price)
    sale_price = min(conv(row.sale_price), list_price) if row.sale_price is not None else None
    return PriceRow(market.currency, list_price, sale_price, row.sale_starts_at, row.sale_ends_at)


def resolve_row(rows_by_market: dict[str, PriceRow], market: Market) -> tuple[PriceRow, bool] | None:
    """The price row for ``market`` and whether it came from FX, or None when no market
    has a price. The base market (``CATALOG_BASE_MARKET``) is preferred as FX source."""
    explicit = rows_by_market.get(market.code)
    if explicit is not None:
        return explicit, False
    base = rows_by_market.get(settings.CATALOG_BASE_MARKET)
    if base is None and rows_by_market:
        base = rows_by_market[sorted(rows_by_market)[0]]
    if base is None:
        return None
    return convert_row(base, market), True
