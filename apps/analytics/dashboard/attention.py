"""CS (and ops): the orders of the agent's markets needing a person."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from apps.analytics.dashboard.common import (
    DANGER,
    LIST_LIMIT,
    PRIMARY,
    WARNING,
    admin_link,
    chart_json,
    chart_options,
    money_display,
)
from apps.core import clock
from apps.core.formatting import format_datetime
from apps.markets.models import Market
from apps.orders.models import Order, OrderPayment, OrderRefund
from apps.orders.services.paying import REFUND_DUE

ATTENTION_REASONS: tuple[str, ...] = ("payment_pending", "refund_due", "unfulfilled")


def _attention_labels() -> dict[str, str]:
    return {
        "payment_pending": _("Payment outcome unknown"),
        "refund_due": _("Money owed back"),
        "unfulfilled": _("Paid, not fulfilled"),
    }


def unfulfilled_after() -> dt.timedelta:
    return dt.timedelta(hours=int(settings.DASHBOARD_UNFULFILLED_AFTER_HOURS))


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
                "total_display": money_display(order["total"], order["currency"], language),
                "placed_display": format_datetime(
                    order["created_at"], language, tz=zones.get(order["market_id"]), fmt="short"
                ),
                "reasons": [labels[reason] for reason in ATTENTION_REASONS if order[reason]],
                "link": admin_link("admin:orders_order_change", order["pk"]),
            }
        )
    chart = chart_json(
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
        "chart_options": chart_options(legend=False),
    }
