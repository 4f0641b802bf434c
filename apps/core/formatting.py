"""Locale-aware formatting of money, numbers and dates with Babel (CLDR data).

Our language codes (``ko``, ``en``) map to the CLDR locales of our markets. Without an
explicit locale the active Django language is used.

>>> format_money(Money(12900, "KRW"), "ko")
'₩12,900'
>>> format_money(Money(1299, "USD"), "en")
'$12.99'
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from django.utils import translation

if TYPE_CHECKING:
    from apps.core.money import Money

CLDR_LOCALES = {"ko": "ko_KR", "en": "en_US"}
DEFAULT_CLDR_LOCALE = "en_US"


def cldr_locale(language: str | None = None) -> str:
    language = (language or translation.get_language() or "en").split("-")[0].lower()
    return CLDR_LOCALES.get(language, DEFAULT_CLDR_LOCALE)


def format_money(money: Money, locale: str | None = None) -> str:
    return _format_currency(money.amount, money.currency, cldr_locale(locale))


@lru_cache(maxsize=8192)
def _format_currency(amount: int, currency: str, cldr: str) -> str:
    """Memoized: a page of cards (API or storefront) shows the same few amounts over and
    over, and Babel is the costliest step of a money display. Pure in its arguments."""
    from apps.core.money import Money

    return babel_numbers.format_currency(Money(amount, currency).to_major(), currency, locale=cldr)


def format_number(value: int | Decimal, locale: str | None = None) -> str:
    return babel_numbers.format_decimal(value, locale=cldr_locale(locale))


def format_date(value: dt.date, locale: str | None = None, *, fmt: str = "medium") -> str:
    """``2026. 11. 23.`` in Korean, ``Nov 23, 2026`` in English."""
    return babel_dates.format_date(value, format=fmt, locale=cldr_locale(locale))


def format_datetime(
    value: dt.datetime, locale: str | None = None, *, tz: str | None = None, fmt: str = "medium"
) -> str:
    """An aware datetime shown in ``tz`` (a market's time zone), e.g. ``Asia/Seoul``."""
    tzinfo = ZoneInfo(tz) if tz else None
    return babel_dates.format_datetime(value, format=fmt, tzinfo=tzinfo, locale=cldr_locale(locale))
