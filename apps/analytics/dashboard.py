"""The back office's dashboard (issue 23 item 3): one function per section, each returning
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

Reservation latency is not shown: no metric of it is recorded anywhere yet (no column, no
Prometheus series) to read from.

Caching: a section's dict is cached for ``DASHBOARD_CACHE_SECONDS`` (default 60) per
section, markets, language and time zone. Nothing invalidates it early: the numbers may
be that many seconds old, which the page says.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import numbers as babel_numbers
from django.conf import settings
from django.core.cache import cache
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.selectors import staff_markets
from apps.analytics.models import DailySales
from apps.analytics.services import local_day, local_today
from apps.core import clock
from apps.core.formatting import cldr_locale, format_date, format_datetime, format_money, format_number
from apps.core.models import OutboxEvent
from apps.core.money import Money
from apps.coupons import metrics as coupon_metrics
from apps.coupons.models import Campaign, Coupon
from apps.integrations.models import DeliveryAttempt
from apps.integrations.selectors import outbox_stats
from apps.inventory.selectors import low_stock_levels
from apps.markets.models import Market
from apps.markets.selectors import market_map
from apps.orders.models import Order, OrderPayment, OrderRefund
from apps.orders.services.paying import REFUND_DUE

SALES = "sales"
PAYMENTS = "payments"
ATTENTION = "attention"
LOW_STOCK = "low_stock"
OUTBOX = "outbox"
COUPONS = "coupons"

#: Sections in page order.
ALL_SECTIONS: tuple[str, ...] = (SALES, PAYMENTS, ATTENTION, LOW_STOCK, OUTBOX, COUPONS)
#: role -> the sections it sees.
ROLE_SECTIONS: dict[str, tuple[str, ...]] = {
    "ops_admin": ALL_SECTIONS,
    "marketing_manager": (COUPONS,),
    "cs_agent": (ATTENTION,),
    "inventory_manager": (LOW_STOCK,),
}

#: "Last 30 days" = today and the 29 local days before it.
WINDOW_DAYS = 30
#: Rows listed under the attention and low-stock charts; campaigns shown.
LIST_LIMIT = 10
CAMPAIGN_LIMIT = 6
#: A campaign running longer than this many hours has a burn-down by day, else by hour.
HOURLY_BURN_DOWN_HOURS = 48
#: The most points of a burn-down (the latest ones; the count before them is carried).
BURN_DOWN_POINTS = 90

PRIMARY = "var(--color-primary-600)"
SECONDARY = "var(--color-primary-300)"
DANGER = "#dc2626"
WARNING = "#d97706"


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


# --- Formatting helpers --------------------------------------------------------------
def _money(amount: int, currency: str, language: str) -> str:
    return format_money(Money(int(amount), currency), language)


def _major(amount: int | None, currency: str) -> float | None:
    """A chart value: minor units as the currency's major unit (12.99, 12900)."""
    return None if amount is None else float(Money(int(amount), currency).to_major())


def _rate(numerator: int, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


def _percent(rate: Decimal | None, language: str) -> str:
    if rate is None:
        return "–"
    return str(babel_numbers.format_percent(rate, "#,##0.0%", locale=cldr_locale(language)))


def _chart(labels: list[str], datasets: list[dict[str, Any]]) -> str:
    return json.dumps({"labels": labels, "datasets": datasets}, ensure_ascii=False)


def _options(*, stacked: bool = False, legend: bool = True, y_title: str = "") -> str:
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


def _admin_link(name: str, *args: Any, query: str = "") -> str | None:
    try:
        return reverse(name, args=args) + query
    except NoReverseMatch:
        return None


def _any(conditions: Iterable[Q]) -> Q:
    """OR of ``conditions``; matches nothing when there are none."""
    combined = Q(pk__in=[])
    for condition in conditions:
        combined |= condition
    return combined


# --- Sales and order completion (ops) ----------------------------------------------
def sales_section(*, markets: list[Market], language: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Per market: today's and the last 30 local days' sales (orders, gross, discounts,
    refunds, net) and order completion rate; daily net and gross sales as a line chart.

    Three queries for every market together: the aggregates of the past days, today's and
    the window's orders (conditional aggregates), today's refunds."""
    now = now or clock.now()
    days: dict[str, tuple[dt.date, dt.date]] = {}
    today_q: dict[str, Q] = {}
    placed_today_q: dict[str, Q] = {}
    placed_window_q: dict[str, Q] = {}
    refunds_today_q: dict[str, Q] = {}
    for market in markets:
        today = local_today(market, now)
        first = today - dt.timedelta(days=WINDOW_DAYS - 1)
        days[market.code] = (first, today)
        today_span = local_day(market, today)
        window_start = local_day(market, first).start
        today_q[market.code] = Q(
            market_id=market.code, paid_at__gte=today_span.start, paid_at__lt=today_span.end
        )
        placed_today_q[market.code] = Q(
            market_id=market.code, created_at__gte=today_span.start, created_at__lt=today_span.end
        )
        placed_window_q[market.code] = Q(
            market_id=market.code, created_at__gte=window_start, created_at__lt=today_span.end
        )
        refunds_today_q[market.code] = Q(
            order__market_id=market.code, created_at__gte=today_span.start, created_at__lt=today_span.end
        )
    if not markets:
        return {"markets": []}

    past: dict[tuple[str, dt.date], dict[str, Any]] = {}
    first_any = min(first for first, _today in days.values())
    last_any = max(today for _first, today in days.values())
    for row in DailySales.objects.filter(
        market_id__in=list(days), date__gte=first_any, date__lt=last_any
    ).values("market_id", "date", "orders", "gross", "discounts", "refunds", "net"):
        first, today = days[row["market_id"]]
        if first <= row["date"] < today:
            past[(row["market_id"], row["date"])] = dict(row)

    paid_today = _any(today_q.values())
    placed_today = _any(placed_today_q.values())
    placed_window = _any(placed_window_q.values())
    live: dict[str, dict[str, Any]] = {
        row["market_id"]: dict(row)
        for row in Order.objects.filter(paid_today | placed_window)
        .order_by()
        .values("market_id")
        .annotate(
            paid_orders=Count("pk", filter=paid_today),
            total=Sum("total", filter=paid_today),
            sale=Sum("sale_discount", filter=paid_today),
            coupon=Sum("coupon_discount", filter=paid_today),
            placed_window=Count("pk", filter=placed_window),
            completed_window=Count("pk", filter=placed_window & Q(paid_at__isnull=False)),
            placed_today=Count("pk", filter=placed_today),
            completed_today=Count("pk", filter=placed_today & Q(paid_at__isnull=False)),
        )
    }
    refunded = {
        row["market"]: row["amount"] or 0
        for row in OrderRefund.objects.filter(_any(refunds_today_q.values()))
        .order_by()
        .values(market=F("order__market_id"))
        .annotate(amount=Sum("amount"))
    }

    out = []
    for market in markets:
        code, currency = market.code, market.currency
        first, today = days[code]
        figures_live = live.get(code, {})
        discounts = (figures_live.get("sale") or 0) + (figures_live.get("coupon") or 0)
        gross = (figures_live.get("total") or 0) + discounts
        refunds = refunded.get(code, 0)
        today_figures = {
            "orders": figures_live.get("paid_orders", 0),
            "gross": gross,
            "discounts": discounts,
            "refunds": refunds,
            "net": gross - discounts - refunds,
        }
        series: list[dict[str, Any]] = []
        day = first
        while day <= today:
            figures = today_figures if day == today else past.get((code, day))
            series.append({"date": day, **({} if figures is None else _figures(figures))})
            day += dt.timedelta(days=1)
        known = [point for point in series if "net" in point]
        window = {
            key: sum(point[key] for point in known)
            for key in ("orders", "gross", "discounts", "refunds", "net")
        }
        completion = {
            "today": _completion(
                figures_live.get("placed_today", 0), figures_live.get("completed_today", 0), language
            ),
            "last_30_days": _completion(
                figures_live.get("placed_window", 0), figures_live.get("completed_window", 0), language
            ),
        }
        out.append(
            {
                "market": code,
                "market_name": market.name,
                "currency": currency,
                "today": _shown(today_figures, currency, language),
                "last_30_days": _shown(window, currency, language),
                "days_missing": len(series) - len(known),
                "completion": completion,
                "days": series,
                "chart": _chart(
                    [format_date(point["date"], language, fmt="short") for point in series],
                    [
                        {
                            "label": _("Net sales (%(currency)s)") % {"currency": currency},
                            "data": [_major(point.get("net"), currency) for point in series],
                            "borderColor": PRIMARY,
                            "backgroundColor": PRIMARY,
                            "spanGaps": False,
                        },
                        {
                            "label": _("Gross sales (%(currency)s)") % {"currency": currency},
                            "data": [_major(point.get("gross"), currency) for point in series],
                            "borderColor": SECONDARY,
                            "backgroundColor": SECONDARY,
                            "spanGaps": False,
                        },
                    ],
                ),
                "chart_options": _options(),
            }
        )
    return {"markets": out}


def _figures(row: dict[str, Any]) -> dict[str, int]:
    return {key: int(row[key]) for key in ("orders", "gross", "discounts", "refunds", "net")}


def _shown(figures: dict[str, int], currency: str, language: str) -> dict[str, Any]:
    return {
        **figures,
        "orders_display": format_number(figures["orders"], language),
        **{
            f"{key}_display": _money(figures[key], currency, language)
            for key in ("gross", "discounts", "refunds", "net")
        },
    }


def _completion(placed: int, completed: int, language: str) -> dict[str, Any]:
    rate = _rate(completed, placed)
    return {"placed": placed, "completed": completed, "rate": rate, "rate_display": _percent(rate, language)}


# --- Payment outcomes (ops) ----------------------------------------------------------
PAYMENT_OUTCOMES: tuple[str, ...] = ("captured", "failed", "pending")


def _outcome_labels() -> dict[str, str]:
    return {"captured": _("Captured"), "failed": _("Failed"), "pending": _("Still pending")}


def payments_section(
    *, markets: list[Market], language: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Order payments started today and in the last 30 local days per market, by outcome
    (captured, failed, still pending), with the capture rate of the decided ones. One query."""
    now = now or clock.now()
    window_q, today_q = [], []
    for market in markets:
        today = local_today(market, now)
        span = local_day(market, today)
        first = local_day(market, today - dt.timedelta(days=WINDOW_DAYS - 1))
        window_q.append(Q(order__market_id=market.code, created_at__gte=first.start, created_at__lt=span.end))
        today_q.append(Q(order__market_id=market.code, created_at__gte=span.start, created_at__lt=span.end))
    counts: dict[str, dict[str, dict[str, int]]] = {
        m.code: {
            "today": dict.fromkeys(PAYMENT_OUTCOMES, 0),
            "last_30_days": dict.fromkeys(PAYMENT_OUTCOMES, 0),
        }
        for m in markets
    }
    if markets:
        for row in (
            OrderPayment.objects.filter(_any(window_q))
            .order_by()
            .values("order__market_id", "status")
            .annotate(window=Count("pk"), today=Count("pk", filter=_any(today_q)))
        ):
            outcome = _payment_outcome(row["status"])
            market_counts = counts[row["order__market_id"]]
            market_counts["last_30_days"][outcome] += row["window"]
            market_counts["today"][outcome] += row["today"]
    labels = _outcome_labels()
    out = []
    for market in markets:
        periods = {}
        for period, figures in counts[market.code].items():
            rate = _rate(figures["captured"], figures["captured"] + figures["failed"])
            periods[period] = {
                **figures,
                "capture_rate": rate,
                "capture_rate_display": _percent(rate, language),
            }
        out.append({"market": market.code, **periods})
    colours = (PRIMARY, SECONDARY, WARNING, DANGER)
    chart = _chart(
        [labels[outcome] for outcome in PAYMENT_OUTCOMES],
        [
            {
                "label": market.code,
                "data": [counts[market.code]["last_30_days"][outcome] for outcome in PAYMENT_OUTCOMES],
                "backgroundColor": colours[index % len(colours)],
                "borderColor": colours[index % len(colours)],
            }
            for index, market in enumerate(markets)
        ],
    )
    return {"markets": out, "labels": labels, "chart": chart, "chart_options": _options()}


def _payment_outcome(status: str) -> str:
    if status in (OrderPayment.Status.CAPTURED, OrderPayment.Status.REFUNDED):
        return "captured"
    if status == OrderPayment.Status.FAILED:
        return "failed"
    return "pending"


# --- Orders needing attention (CS, ops) ---------------------------------------------
ATTENTION_REASONS: tuple[str, ...] = ("payment_pending", "refund_due", "unfulfilled")


def _attention_labels() -> dict[str, str]:
    return {
        "payment_pending": _("Payment outcome unknown"),
        "refund_due": _("Money owed back"),
        "unfulfilled": _("Paid, not fulfilled"),
    }


def unfulfilled_after() -> dt.timedelta:
    return dt.timedelta(hours=int(getattr(settings, "DASHBOARD_UNFULFILLED_AFTER_HOURS", 48)))


def attention_reasons(*, now: dt.datetime) -> dict[str, Q]:
    """Reason -> the condition on an order (``ATTENTION_REASONS``)."""
    settle = dt.timedelta(seconds=int(settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS))
    payment_pending = OrderPayment.objects.filter(
        order=OuterRef("pk"), status=OrderPayment.Status.PENDING, created_at__lt=now - settle
    )
    payment_owed = OrderPayment.objects.filter(
        order=OuterRef("pk"), status=OrderPayment.Status.FAILED, failure_code=REFUND_DUE
    )
    refund_pending = OrderRefund.objects.filter(order=OuterRef("pk"), status=OrderRefund.Status.PENDING)
    return {
        "payment_pending": Q(Exists(payment_pending)),
        "refund_due": Q(Exists(payment_owed)) | Q(Exists(refund_pending)),
        "unfulfilled": Q(status=Order.Status.PAID, paid_at__lt=now - unfulfilled_after()),
    }


def attention_orders(*, market_codes: list[str], now: dt.datetime) -> QuerySet[Order]:
    """Orders of ``market_codes`` needing a person: the candidates are read from the small
    sets (pending payments, owed refunds) and the paid orders' index, not by testing every
    order."""
    settle = dt.timedelta(seconds=int(settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS))
    candidates = (
        Q(
            pk__in=OrderPayment.objects.filter(
                status=OrderPayment.Status.PENDING, created_at__lt=now - settle
            ).values("order_id")
        )
        | Q(
            pk__in=OrderPayment.objects.filter(
                status=OrderPayment.Status.FAILED, failure_code=REFUND_DUE
            ).values("order_id")
        )
        | Q(pk__in=OrderRefund.objects.filter(status=OrderRefund.Status.PENDING).values("order_id"))
        | attention_reasons(now=now)["unfulfilled"]
    )
    return Order.objects.filter(market_id__in=market_codes).filter(candidates)


def attention_section(
    *, markets: list[Market], language: str, now: dt.datetime | None = None, limit: int = LIST_LIMIT
) -> dict[str, Any]:
    """Counts per reason and the oldest ``limit`` orders needing attention. Two queries."""
    now = now or clock.now()
    codes = [m.code for m in markets]
    labels = _attention_labels()
    qs = attention_orders(market_codes=codes, now=now)
    reasons = attention_reasons(now=now)
    counts = qs.order_by().aggregate(
        total=Count("pk"), **{reason: Count("pk", filter=reasons[reason]) for reason in ATTENTION_REASONS}
    )
    zones = {m.code: m.time_zone for m in markets}
    rows = []
    flagged = qs.annotate(
        **{
            reason: ExpressionWrapper(reasons[reason], output_field=BooleanField())
            for reason in ATTENTION_REASONS
        }
    )
    for order in flagged.order_by("created_at", "pk").values(
        "pk",
        "number",
        "market_id",
        "status",
        "total",
        "currency",
        "created_at",
        "paid_at",
        *ATTENTION_REASONS,
    )[:limit]:
        rows.append(
            {
                "number": order["number"],
                "market": order["market_id"],
                "status": str(Order.Status(order["status"]).label),
                "total_display": _money(order["total"], order["currency"], language),
                "placed_display": format_datetime(
                    order["created_at"], language, tz=zones.get(order["market_id"]), fmt="short"
                ),
                "reasons": [labels[reason] for reason in ATTENTION_REASONS if order[reason]],
                "link": _admin_link("admin:orders_order_change", order["pk"]),
            }
        )
    chart = _chart(
        [labels[reason] for reason in ATTENTION_REASONS],
        [
            {
                "label": _("Orders"),
                "data": [counts[reason] for reason in ATTENTION_REASONS],
                "backgroundColor": [WARNING, DANGER, PRIMARY],
                "borderColor": [WARNING, DANGER, PRIMARY],
            }
        ],
    )
    return {
        "markets": codes,
        "total": counts["total"],
        "counts": {reason: counts[reason] for reason in ATTENTION_REASONS},
        "labels": labels,
        "rows": rows,
        "unfulfilled_hours": int(unfulfilled_after().total_seconds() // 3600),
        "chart": chart,
        "chart_options": _options(legend=False),
    }


# --- Low stock (inventory, ops) -----------------------------------------------------
def low_stock_section(*, markets: list[Market], language: str, limit: int = LIST_LIMIT) -> dict[str, Any]:
    """Stock rows at or below their threshold in the user's markets: how many, and the
    ``limit`` lowest with available vs threshold as a bar chart. Two queries."""
    codes = [m.code for m in markets]
    qs = low_stock_levels().filter(warehouse__market_id__in=codes)
    total = qs.count()
    rows = [
        {
            "sku": level.sku.code,
            "warehouse": level.warehouse.code,
            "market": level.warehouse.market_id,
            "available": int(getattr(level, "available_units")),  # noqa: B009 - annotated by the selector
            "threshold": int(getattr(level, "threshold_units")),  # noqa: B009
        }
        for level in qs[:limit]
    ]

    chart = _chart(
        [f"{row['sku']} · {row['warehouse']}" for row in rows],
        [
            {
                "label": _("Available"),
                "data": [row["available"] for row in rows],
                "backgroundColor": DANGER,
                "borderColor": DANGER,
            },
            {
                "label": _("Low-stock threshold"),
                "data": [row["threshold"] for row in rows],
                "backgroundColor": SECONDARY,
                "borderColor": SECONDARY,
            },
        ],
    )
    return {
        "total": total,
        "total_display": format_number(total, language),
        "rows": rows,
        "chart": chart,
        "chart_options": _options(),
        "link": _admin_link("admin:inventory_stocklevel_changelist", query="?availability=low"),
    }


# --- Outbox (ops) --------------------------------------------------------------------
def outbox_section(*, language: str, now: dt.datetime | None = None, hours: int = 24) -> dict[str, Any]:
    """The outbox's backlog and failures (``outbox_stats``: four queries) and the relay's
    webhook calls per hour of the last ``hours``, acknowledged or not (one query)."""
    now = now or clock.now()
    stats = outbox_stats(now=now)
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=hours)
    per_hour: dict[dt.datetime, dict[str, int]] = defaultdict(lambda: {"ok": 0, "failed": 0})
    ok = Q(outcome=DeliveryAttempt.Outcome.OK)
    for row in (
        DeliveryAttempt.objects.filter(started_at__gte=start, started_at__lt=end)
        .annotate(hour=TruncHour("started_at", tzinfo=dt.UTC))
        .order_by()
        .values("hour")
        .annotate(ok=Count("pk", filter=ok), failed=Count("pk", filter=~ok))
    ):
        hour = row["hour"].astimezone(dt.UTC)
        per_hour[hour]["ok"] += row["ok"]
        per_hour[hour]["failed"] += row["failed"]
    hours_list = [start + dt.timedelta(hours=i) for i in range(hours)]
    zone = timezone.get_current_timezone()
    chart = _chart(
        [hour.astimezone(zone).strftime("%H:00") for hour in hours_list],
        [
            {
                "label": _("Acknowledged"),
                "data": [per_hour[hour]["ok"] for hour in hours_list],
                "backgroundColor": PRIMARY,
                "borderColor": PRIMARY,
            },
            {
                "label": _("Not acknowledged"),
                "data": [per_hour[hour]["failed"] for hour in hours_list],
                "backgroundColor": DANGER,
                "borderColor": DANGER,
            },
        ],
    )
    backlog = stats["pending"] + stats["delivering"]
    return {
        "backlog": backlog,
        "pending": stats["pending"],
        "delivering": stats["delivering"],
        "failed": stats["failed"],
        "delivered": stats["delivered"],
        "oldest_pending_age_seconds": stats["oldest_pending_age_seconds"],
        "oldest_pending_display": _age(stats["oldest_pending_age_seconds"]),
        "last_success_display": (
            format_datetime(stats["last_success_at"], language, tz=str(zone), fmt="short", zone=True)
            if stats["last_success_at"]
            else "–"
        ),
        "deliveries_last_5m": stats["deliveries_last_5m"],
        "chart": chart,
        "chart_options": _options(stacked=True),
        "link": _admin_link("admin:core_outboxevent_changelist"),
        "failed_link": _admin_link(
            "admin:core_outboxevent_changelist", query=f"?status={OutboxEvent.Status.FAILED}"
        ),
    }


def _age(seconds: int) -> str:
    if seconds < 60:
        return _("%(n)s s") % {"n": seconds}
    if seconds < 3600:
        return _("%(n)s min") % {"n": seconds // 60}
    return _("%(h)s h %(m)s min") % {"h": seconds // 3600, "m": seconds % 3600 // 60}


# --- Coupons (marketing, ops) -------------------------------------------------------
def live_campaigns(*, market_codes: list[str], now: dt.datetime) -> list[dict[str, Any]]:
    """Active campaigns inside their window in one of ``market_codes``, soonest ending first."""
    ids = (
        Campaign.objects.filter(
            status=Campaign.Status.ACTIVE, starts_at__lte=now, ends_at__gt=now, markets__code__in=market_codes
        )
        .values("pk")
        .distinct()
    )
    return [
        dict(row)
        for row in Campaign.objects.filter(pk__in=ids)
        .order_by("ends_at", "pk")
        .values("pk", "name_ko", "name_en", "total_quantity", "issued_count", "starts_at", "ends_at")[
            :CAMPAIGN_LIMIT
        ]
    ]


def rejected_totals(campaign_ids: list[int]) -> dict[int, int]:
    """Refused claims per campaign counted by ``coupons.metrics`` (one cache round trip)."""
    reasons = (*coupon_metrics.REASONS, "error")
    keys = {coupon_metrics.rejected_key(pk, reason): pk for pk in campaign_ids for reason in reasons}
    totals = dict.fromkeys(campaign_ids, 0)
    if not keys:
        return totals
    try:
        values = cache.get_many(list(keys))
    except Exception:  # noqa: BLE001 - the cache down: no refusals known, not a broken page
        return totals
    for key, value in values.items():
        totals[keys[key]] += int(value or 0)
    return totals


def coupons_section(
    *, markets: list[Market], language: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Live campaigns: issued, remaining, issuance success rate, and a burn-down (coupons
    left after each hour or day since the start; issued so far for an unlimited campaign).
    Two queries (the campaigns, their claims per hour) and one cache read."""
    now = now or clock.now()
    campaigns = live_campaigns(market_codes=[m.code for m in markets], now=now)
    ids = [c["pk"] for c in campaigns]
    hourly: dict[int, dict[dt.datetime, int]] = defaultdict(dict)
    if ids:
        for row in (
            Coupon.objects.filter(campaign_id__in=ids)
            .annotate(hour=TruncHour("claimed_at", tzinfo=dt.UTC))
            .order_by()
            .values("campaign_id", "hour")
            .annotate(n=Count("pk"))
        ):
            hour = row["hour"].astimezone(dt.UTC)
            hourly[row["campaign_id"]][hour] = hourly[row["campaign_id"]].get(hour, 0) + row["n"]
    rejected = rejected_totals(ids)
    zone = timezone.get_current_timezone()
    out = []
    for campaign in campaigns:
        pk = campaign["pk"]
        issued = int(campaign["issued_count"])
        total = campaign["total_quantity"]
        refused = rejected[pk]
        rate = _rate(issued, issued + refused)
        points = burn_down(
            claims=hourly.get(pk, {}),
            starts_at=campaign["starts_at"],
            ends_at=campaign["ends_at"],
            now=now,
            zone=zone,
        )
        limited = total is not None
        series = [(total - n) if limited else n for _label, n in points]
        name = campaign["name_ko"] if language.startswith("ko") else campaign["name_en"]
        out.append(
            {
                "id": pk,
                "name": name,
                "total": total,
                "issued": issued,
                "claimed": sum(hourly.get(pk, {}).values()),
                "remaining": None if total is None else max(total - issued, 0),
                "remaining_display": _("Unlimited")
                if total is None
                else format_number(max(total - issued, 0), language),
                "issued_display": format_number(issued, language),
                "refused": refused,
                "success_rate": rate,
                "success_rate_display": _percent(rate, language),
                "ends_display": format_datetime(
                    campaign["ends_at"], language, tz=str(zone), fmt="short", zone=True
                ),
                "burn_down": series,
                "chart": _chart(
                    [label for label, _n in points],
                    [
                        {
                            "label": _("Coupons left") if limited else _("Coupons issued"),
                            "data": series,
                            "borderColor": PRIMARY,
                            "backgroundColor": PRIMARY,
                            "stepped": True,
                        }
                    ],
                ),
                "chart_options": _options(legend=False),
                "link": _admin_link("admin:coupons_campaign_change", pk),
            }
        )
    return {"campaigns": out}


def burn_down(
    *,
    claims: dict[dt.datetime, int],
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    now: dt.datetime,
    zone: Any,
) -> list[tuple[str, int]]:
    """``(label, coupons claimed up to the end of that bucket)`` from the start to now, by
    hour for campaigns of up to ``HOURLY_BURN_DOWN_HOURS``, else by local day; the last
    ``BURN_DOWN_POINTS`` buckets (claims before them are carried into the first)."""
    until = min(now, ends_at)
    hourly = (ends_at - starts_at) <= dt.timedelta(hours=HOURLY_BURN_DOWN_HOURS)
    key: Callable[[dt.datetime], Any]
    buckets: list[Any]
    if hourly:
        first = starts_at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        buckets = []
        cursor = first
        while cursor <= until:
            buckets.append(cursor)
            cursor += dt.timedelta(hours=1)

        def key(instant: dt.datetime) -> Any:
            return instant.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)

        def label(bucket: Any) -> str:
            return str(bucket.astimezone(zone).strftime("%m-%d %H:00"))
    else:
        local_zone = zone if isinstance(zone, dt.tzinfo) else ZoneInfo(str(zone))
        first_day = starts_at.astimezone(local_zone).date()
        last_day = until.astimezone(local_zone).date()
        buckets = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]

        def key(instant: dt.datetime) -> Any:
            return instant.astimezone(local_zone).date()

        def label(bucket: Any) -> str:
            return str(bucket.strftime("%m-%d"))

    per_bucket: dict[Any, int] = defaultdict(int)
    for hour, n in claims.items():
        per_bucket[key(hour)] += n
    if not buckets:
        return []
    shown = buckets[-BURN_DOWN_POINTS:]
    running = sum(n for bucket, n in per_bucket.items() if bucket < shown[0])
    points = []
    for bucket in shown:
        running += per_bucket.get(bucket, 0)
        points.append((label(bucket), running))
    return points


# --- The page ------------------------------------------------------------------------
SECTION_BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    SALES: sales_section,
    PAYMENTS: payments_section,
    ATTENTION: attention_section,
    LOW_STOCK: low_stock_section,
    OUTBOX: outbox_section,
    COUPONS: coupons_section,
}
#: Sections read for every market at once (the outbox is one for all).
UNSCOPED_SECTIONS = frozenset({OUTBOX})


def cache_seconds() -> int:
    return int(getattr(settings, "DASHBOARD_CACHE_SECONDS", 60))


def section_build(
    section: str, *, markets: list[Market], language: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    builder = SECTION_BUILDERS[section]
    kwargs: dict[str, Any] = {"language": language}
    if section not in UNSCOPED_SECTIONS:
        kwargs["markets"] = markets
    if section != LOW_STOCK:
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
