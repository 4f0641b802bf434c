"""The back office's dashboard (issue 23 item 3): one function per section (a module per
concern: ``sales``, ``attention``, ``operations``, ``coupons``), each returning
plain dicts (numbers, formatted labels and Chart.js data as JSON) for
``templates/admin/index.html``; ``dashboard_for`` picks the sections of the user's roles.

Who sees what (DESIGN.md §6):

* ``ops_admin`` (and superusers): every section.
* ``marketing_manager``: ``coupons`` only (live campaigns' burn-down, issuance success
  rate, remaining).
* ``cs_agent``: ``attention`` only (its markets' orders needing attention).
* ``inventory_manager``: ``low_stock`` only.

Every section is limited to the staff member's markets (``staff_markets``), except the
outbox (one relay for every market). Sections are chosen by role, not by view
permissions: a CS agent may read campaigns but its dashboard is its orders.

Sources, read only, aggregated in SQL (a handful of queries per section, none per row):

* ``sales``: past days from the daily aggregates (``DailySales``, written at each market's
  midnight); today live from the orders and refunds with the same accounting rules
  (``services`` module docstring). A past day with no aggregate yet is a gap, not a zero.
  Order completion: of the orders placed in the window, the share paid since.
* ``payments``: order payments started in the window by outcome (a payment refunded later
  was captured first and counts as captured).
* ``attention``: a payment pending past ``PAYMENT_CHARGE_SETTLE_AFTER_SECONDS`` (outcome
  unknown), money owed back (a charge captured for an order that could no longer take it,
  or a refund still being sent to the card), an order paid but not fulfilled after
  ``DASHBOARD_UNFULFILLED_AFTER_HOURS``.
* ``low_stock``: ``inventory.selectors.low_stock_levels``.
* ``outbox``: ``integrations.selectors.outbox_stats`` and the relay's webhook calls per hour.
* ``coupons``: live campaigns (active, inside their window); burn-down from the coupons'
  ``claimed_at``; success rate = issued / (issued + refused claims counted by
  ``coupons.metrics``, kept in the cache).

* ``latency``: reservation holds and commits, P50/P95 and their distribution, read from
  the Prometheus histogram ``joopang_inventory_reservation_seconds`` (every process's when
  ``PROMETHEUS_MULTIPROC_DIR`` is set, else the serving process's): counted since the
  processes started, not per window (Prometheus and the alert rule have the 5-minute view).

Caching: a section's dict is cached for ``DASHBOARD_CACHE_SECONDS`` (default 60) per
section, markets, language and time zone. Nothing invalidates it early: the numbers may
be that many seconds old, which the page says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation

from apps.accounts.selectors import staff_markets
from apps.analytics.dashboard.attention import (
    ATTENTION_REASONS,
    attention_orders,
    attention_reasons,
    attention_section,
    unfulfilled_after,
)
from apps.analytics.dashboard.coupons import burn_down, coupons_section, live_campaigns, rejected_totals
from apps.analytics.dashboard.operations import (
    histogram_quantile,
    low_stock_section,
    outbox_section,
    reservation_latency_section,
)
from apps.analytics.dashboard.sales import PAYMENT_OUTCOMES, payments_section, sales_section
from apps.markets.models import Market
from apps.markets.selectors import market_map

SALES = "sales"
PAYMENTS = "payments"
ATTENTION = "attention"
LATENCY = "latency"
LOW_STOCK = "low_stock"
OUTBOX = "outbox"
COUPONS = "coupons"

#: Sections in page order.
ALL_SECTIONS: tuple[str, ...] = (SALES, PAYMENTS, ATTENTION, LATENCY, LOW_STOCK, OUTBOX, COUPONS)
#: role -> the sections it sees.
ROLE_SECTIONS: dict[str, tuple[str, ...]] = {
    "ops_admin": ALL_SECTIONS,
    "marketing_manager": (COUPONS,),
    "cs_agent": (ATTENTION,),
    "inventory_manager": (LOW_STOCK,),
}


# --- Who sees what -------------------------------------------------------------------
def dashboard_sections(user: Any) -> list[str]:
    """The sections ``user`` sees, in page order: the union of its roles' sections."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_staff:
        return []
    if user.is_superuser:
        return list(ALL_SECTIONS)
    wanted: set[str] = set()
    for role in user.groups.values_list("name", flat=True):
        wanted.update(ROLE_SECTIONS.get(role, ()))
    return [section for section in ALL_SECTIONS if section in wanted]


def dashboard_markets(user: Any) -> list[Market]:
    """The active markets the user works in, by code."""
    scope = staff_markets(user)
    markets = market_map()
    return [markets[code] for code in sorted(markets) if scope is None or code in scope]


# --- The page ------------------------------------------------------------------------
SECTION_BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    SALES: sales_section,
    PAYMENTS: payments_section,
    ATTENTION: attention_section,
    LATENCY: reservation_latency_section,
    LOW_STOCK: low_stock_section,
    OUTBOX: outbox_section,
    COUPONS: coupons_section,
}
#: Sections read for every market at once (one outbox, one latency histogram for all).
UNSCOPED_SECTIONS = frozenset({OUTBOX, LATENCY})
#: Sections with no clock of their own (a live count, a histogram).
TIMELESS_SECTIONS = frozenset({LOW_STOCK, LATENCY})


def cache_seconds() -> int:
    return int(settings.DASHBOARD_CACHE_SECONDS)


def section_build(
    section: str, *, markets: list[Market], language: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    builder = SECTION_BUILDERS[section]
    kwargs: dict[str, Any] = {"language": language}
    if section not in UNSCOPED_SECTIONS:
        kwargs["markets"] = markets
    if section not in TIMELESS_SECTIONS:
        kwargs["now"] = now
    return builder(**kwargs)


def dashboard_for(user: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """``{"sections": [...], <section>: {...}, "markets": [...]}`` for the user's roles,
    each section cached ``DASHBOARD_CACHE_SECONDS`` per markets, language and time zone."""
    sections = dashboard_sections(user)
    markets = dashboard_markets(user)
    language = (translation.get_language() or "en").split("-")[0]
    zone = timezone.get_current_timezone_name()
    seconds = cache_seconds()
    data: dict[str, Any] = {
        "sections": sections,
        "markets": [m.code for m in markets],
        "cache_seconds": seconds,
    }
    for section in sections:
        scope = "all" if section in UNSCOPED_SECTIONS else ",".join(m.code for m in markets)
        key = f"dashboard:v1:{section}:{scope}:{language}:{zone}"
        value = cache.get(key) if seconds > 0 and now is None else None
        if value is None:
            value = section_build(section, markets=markets, language=language, now=now)
            if seconds > 0 and now is None:
                cache.set(key, value, seconds)
        data[section] = value
    return data


__all__ = [
    "ALL_SECTIONS",
    "ATTENTION_REASONS",
    "PAYMENT_OUTCOMES",
    "ROLE_SECTIONS",
    "attention_orders",
    "attention_reasons",
    "attention_section",
    "burn_down",
    "coupons_section",
    "dashboard_for",
    "dashboard_markets",
    "dashboard_sections",
    "histogram_quantile",
    "live_campaigns",
    "low_stock_section",
    "outbox_section",
    "payments_section",
    "rejected_totals",
    "reservation_latency_section",
    "sales_section",
    "unfulfilled_after",
]
