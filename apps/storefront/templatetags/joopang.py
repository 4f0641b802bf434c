"""Template filters for locale-aware money, numbers and dates (Babel), and ``fixed_url``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse

from apps.core.formatting import format_date, format_datetime, format_money, format_number
from apps.core.money import Money

register = template.Library()

_fixed_urls: dict[tuple[str, Any, str], str] = {}


@register.simple_tag
def fixed_url(name: str) -> str:
    """``{% url name %}`` for a URL without arguments, reversed once per URLconf and script
    prefix: every product card has an add-to-cart form, and reversing its URL again for
    each of a page's 20 cards was a tenth of rendering a listing."""
    key = (name, get_urlconf(), get_script_prefix())
    url = _fixed_urls.get(key)
    if url is None:
        url = _fixed_urls[key] = reverse(name)
    return url


@register.filter
def money(value: Money | None) -> str:
    return "" if value is None else format_money(value)


@register.filter
def number(value: Any) -> str:
    return "" if value is None else format_number(value)


@register.filter
def localdate(value: dt.date | None) -> str:
    return "" if value is None else format_date(value)


def _market_tz(market: Any) -> str | None:
    return getattr(market, "time_zone", None)


@register.filter
def market_datetime(value: dt.datetime | None, market: Any = None) -> str:
    """``{{ ends_at|market_datetime:current_market }}``: an instant in the market's time
    zone and the page's language, without seconds (``2026. 11. 30. 오후 11:56``)."""
    return "" if value is None else format_datetime(value, tz=_market_tz(market))


@register.filter
def market_datetime_short(value: dt.datetime | None, market: Any = None) -> str:
    """As ``market_datetime`` without the year (``11월 30일 오후 11:56``, ``Nov 30, 11:56 PM``)."""
    return "" if value is None else format_datetime(value, tz=_market_tz(market), fmt="short")
