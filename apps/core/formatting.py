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


#: Date-time patterns per language and length (CLDR symbols). Babel's own Korean patterns
#: say "PM" (CLDR's abbreviated day period) and show seconds; a shopper reads "오후 11:56".
#: ``aaaa`` is the wide day period (오전/오후).
DATETIME_PATTERNS: dict[str, dict[str, str]] = {
    "ko": {
        "short": "M월 d일 aaaa h:mm",  # 11월 30일 오후 11:56
        "medium": "y. M. d. aaaa h:mm",  # 2026. 11. 30. 오후 11:56
        "long": "y년 M월 d일 EEEE aaaa h:mm",  # 2026년 11월 30일 월요일 오후 11:56
    },
    "en": {
        "short": "MMM d, h:mm a",  # Nov 30, 11:56 PM
        "medium": "MMM d, y, h:mm a",  # Nov 30, 2026, 11:56 PM
        "long": "EEEE, MMMM d, y, h:mm a",  # Monday, November 30, 2026, 11:56 PM
    },
}


def format_datetime(
    value: dt.datetime,
    locale: str | None = None,
    *,
    tz: str | None = None,
    fmt: str = "medium",
    zone: bool = False,
) -> str:
    """An instant as a shopper or staff member reads it, in ``tz`` (a market's time zone,
    e.g. ``Asia/Seoul``; UTC when None): ``2026. 11. 30. 오후 11:56`` (ko),
    ``Nov 30, 2026, 11:56 PM`` (en); no seconds. ``fmt``: ``short`` (no year), ``medium``,
    ``long``. ``zone=True`` appends the zone's abbreviation (``KST``, ``EST``), for screens
    read across markets (the admin). A naive ``value`` is taken as UTC.

    The one date-time formatter of the project: templates (``market_datetime`` filter),
    e-mails and the admin call it.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(ZoneInfo(tz) if tz else dt.UTC)
    cldr = cldr_locale(locale)
    pattern = DATETIME_PATTERNS[cldr.split("_")[0]][fmt]
    text = babel_dates.format_datetime(local, pattern, locale=cldr)
    if zone:
        text = f"{text} {local.tzname()}"
    return text
