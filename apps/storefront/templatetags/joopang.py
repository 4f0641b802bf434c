"""Template filters for locale-aware money, numbers and dates (Babel)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from apps.core.formatting import format_date, format_datetime, format_money, format_number
from apps.core.money import Money

register = template.Library()


@register.filter
def money(value: Money | None) -> str:
    return "" if value is None else format_money(value)


@register.filter
def number(value: Any) -> str:
    return "" if value is None else format_number(value)


@register.filter
def localdate(value: dt.date | None) -> str:
    return "" if value is None else format_date(value)


@register.simple_tag(takes_context=True)
def market_datetime(context: dict[str, Any], value: dt.datetime | None) -> str:
    """An instant shown in the current market's time zone."""
    if value is None:
        return ""
    market = context.get("current_market")
    return format_datetime(value, tz=market.time_zone if market else None)
