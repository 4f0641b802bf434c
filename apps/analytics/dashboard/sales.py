"""Ops: sales per market (today and the last 30 local days), order completion, and
payment outcomes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.utils.translation import gettext as _

from apps.analytics.dashboard.common import (
    DANGER,
    PRIMARY,
    SECONDARY,
    WARNING,
    WINDOW_DAYS,
    any_of,
    chart_json,
    chart_options,
    major_units,
    money_display,
    percent_display,
    ratio,
)
from apps.analytics.models import DailySales
from apps.analytics.services import local_day, local_today
from apps.core import clock
from apps.core.formatting import format_date, format_number
from apps.markets.models import Market
from apps.orders.models import Order, OrderPayment, OrderRefund


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

    paid_today = any_of(today_q.values())
    placed_today = any_of(placed_today_q.values())
    placed_window = any_of(placed_window_q.values())
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
        for row in OrderRefund.objects.filter(any_of(refunds_today_q.values()))
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
                "chart": chart_json(
                    [format_date(point["date"], language, fmt="short") for point in series],
                    [
                        {
                            "label": _("Net sales (%(currency)s)") % {"currency": currency},
                            "data": [major_units(point.get("net"), currency) for point in series],
                            "borderColor": PRIMARY,
                            "backgroundColor": PRIMARY,
                            "spanGaps": False,
                        },
                        {
                            "label": _("Gross sales (%(currency)s)") % {"currency": currency},
                            "data": [major_units(point.get("gross"), currency) for point in series],
                            "borderColor": SECONDARY,
                            "backgroundColor": SECONDARY,
                            "spanGaps": False,
                        },
                    ],
                ),
                "chart_options": chart_options(),
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
            f"{key}_display": money_display(figures[key], currency, language)
            for key in ("gross", "discounts", "refunds", "net")
        },
    }


def _completion(placed: int, completed: int, language: str) -> dict[str, Any]:
    rate = ratio(completed, placed)
    return {
        "placed": placed,
        "completed": completed,
        "rate": rate,
        "rate_display": percent_display(rate, language),
    }


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
            OrderPayment.objects.filter(any_of(window_q))
            .order_by()
            .values("order__market_id", "status")
            .annotate(window=Count("pk"), today=Count("pk", filter=any_of(today_q)))
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
            rate = ratio(figures["captured"], figures["captured"] + figures["failed"])
            periods[period] = {
                **figures,
                "capture_rate": rate,
                "capture_rate_display": percent_display(rate, language),
            }
        out.append({"market": market.code, **periods})
    colours = (PRIMARY, SECONDARY, WARNING, DANGER)
    chart = chart_json(
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
    return {"markets": out, "labels": labels, "chart": chart, "chart_options": chart_options()}


def _payment_outcome(status: str) -> str:
    if status in (OrderPayment.Status.CAPTURED, OrderPayment.Status.REFUNDED):
        return "captured"
    if status == OrderPayment.Status.FAILED:
        return "failed"
    return "pending"
