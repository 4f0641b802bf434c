"""What the dashboard's sections share: the window, list sizes, colours, and the
formatting of money, rates and Chart.js data (plain JSON for unfold's chart components)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from babel import numbers as babel_numbers
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from apps.core.formatting import cldr_locale, format_money
from apps.core.money import Money

#: "Last 30 days" = today and the 29 local days before it.
WINDOW_DAYS = 30
#: Rows listed under the attention and low-stock charts.
LIST_LIMIT = 10

PRIMARY = "var(--color-primary-600)"
SECONDARY = "var(--color-primary-300)"
DANGER = "#dc2626"
WARNING = "#d97706"


def money_display(amount: int, currency: str, language: str) -> str:
    return format_money(Money(int(amount), currency), language)


def major_units(amount: int | None, currency: str) -> float | None:
    """A chart value: minor units as the currency's major unit (12.99, 12900)."""
    return None if amount is None else float(Money(int(amount), currency).to_major())


def ratio(numerator: int, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


def percent_display(rate: Decimal | None, language: str) -> str:
    if rate is None:
        return "–"
    return str(babel_numbers.format_percent(rate, "#,##0.0%", locale=cldr_locale(language)))


def chart_json(labels: list[str], datasets: list[dict[str, Any]]) -> str:
    return json.dumps({"labels": labels, "datasets": datasets}, ensure_ascii=False)


def chart_options(*, stacked: bool = False, legend: bool = True, y_title: str = "") -> str:
    """Chart.js options (plain JSON; unfold's defaults hide the legend and draw 4 px bars)."""
    y: dict[str, Any] = {"beginAtZero": True, "stacked": stacked, "ticks": {"precision": 0}}
    if y_title:
        y["title"] = {"display": True, "text": y_title}
    return json.dumps(
        {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "maxBarThickness": 28,
            "plugins": {"legend": {"display": legend, "position": "bottom"}},
            "scales": {"x": {"stacked": stacked, "grid": {"display": False}}, "y": y},
        },
        ensure_ascii=False,
    )


def admin_link(name: str, *args: Any, query: str = "") -> str | None:
    try:
        return reverse(name, args=args) + query
    except NoReverseMatch:
        return None


def any_of(conditions: Iterable[Q]) -> Q:
    """OR of ``conditions``; matches nothing when there are none."""
    combined = Q(pk__in=[])
    for condition in conditions:
        combined |= condition
    return combined
