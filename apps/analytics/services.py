"""Daily aggregates: rebuilt from the orders, refunds and coupons tables, never edited.

Accounting rules (one row = one market-local day, DESIGN.md §5)
-----------------------------------------------------------------
Daily sales, per market and local day D (``[00:00 D, 00:00 D+1)`` in the market's time
zone; a DST day is 23 or 25 hours long), amounts in minor units of the market's currency:

- ``orders``: orders whose payment was captured on D (``Order.paid_at``), whatever happened
  to them afterwards (a paid order cancelled or returned later still sold on D).
- ``gross``: those orders before any discount: ``total + sale_discount + coupon_discount``
  (merchandise at list price, plus tax where it is added on top, plus shipping).
- ``discounts``: their sale and coupon discounts (``sale_discount + coupon_discount``).
- ``refunds``: money given back on D (``OrderRefund.created_at``, the moment the refund is
  recorded and the order's refunded amount moves), for orders of any day; a refund owed to
  a card and still being sent counts on the day it was recorded.
- ``net = gross - discounts - refunds``: what the market kept from D's business.

So a refund today for yesterday's order lands on today's row: yesterday's row, once its
day is over, is not rewritten by later business. What the nightly run corrects is the day
a change belongs to: every run rebuilds whole days from the source tables, so a row
written before that day's last payment or refund committed (a late commit, a backfill,
a fix of source data) is rebuilt to the truth by ``aggregates_refresh_due`` (rows computed
before the day's end plus ``ANALYTICS_SETTLE_MINUTES``) or by ``manage.py
rebuild_aggregates``. Summing daily rows over a range therefore gives exactly the money
taken minus the money given back in that range.

Coupon usage, per campaign and local day of the campaign's market (the first of its
markets by code when it runs in several):

- ``issued``: coupons claimed on D (``Coupon.claimed_at``), revoked or expired ones included.
- ``used``: uses of its coupons by orders paid on D (the order's ``paid_at``; a use given
  back when a paid order was cancelled still counts on its day, like the sale).
- ``issued_to_date`` / ``used_to_date``: the same up to the end of D;
  ``usage_rate = used_to_date / issued_to_date`` (``models.usage_rate``).
- A row exists for each day a non-draft campaign's window touches, and for any other day
  with a claim or a use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q, Sum

from apps.analytics.models import CouponUsageDaily, DailySales
from apps.core import clock
from apps.coupons.models import Campaign, Coupon, CouponUse
from apps.markets.models import Market
from apps.orders.models import Order, OrderRefund

logger = structlog.get_logger("apps.analytics")

#: A use counts once its order is paid; given back later it still happened on its day.
COUNTED_USES = (CouponUse.Status.USED, CouponUse.Status.RESTORED)


@dataclass(frozen=True)
class LocalDay:
    """A market-local calendar day as the UTC instants ``[start, end)``."""

    date: dt.date
    start: dt.datetime
    end: dt.datetime


def local_day(market: Market, date: dt.date) -> LocalDay:
    zone = ZoneInfo(market.time_zone)
    start = dt.datetime.combine(date, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return LocalDay(date=date, start=start.astimezone(dt.UTC), end=end.astimezone(dt.UTC))


def local_today(market: Market, now: dt.datetime | None = None) -> dt.date:
    return (now or clock.now()).astimezone(ZoneInfo(market.time_zone)).date()


def _dates(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def _markets(market: Market | str | None) -> list[Market]:
    if market is None:
        return list(Market.objects.filter(is_active=True).order_by("code"))
    code = market.code if isinstance(market, Market) else market.upper()
    return [Market.objects.get(code=code)]


def campaign_ids_reported_in(market: Market) -> list[int]:
    """Campaigns whose days are ``market``'s: the first of their markets by code."""
    return list(
        Campaign.objects.annotate(report_market=Min("markets__code"))
        .filter(report_market=market.code)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def daily_sales_compute(*, market: Market, day: LocalDay) -> dict[str, int]:
    """The figures of one market-day (see the module docstring), straight from the source."""
    paid = Order.objects.filter(market=market, paid_at__gte=day.start, paid_at__lt=day.end).aggregate(
        orders=Count("pk"), total=Sum("total"), sale=Sum("sale_discount"), coupon=Sum("coupon_discount")
    )
    refunded = OrderRefund.objects.filter(
        order__market=market, created_at__gte=day.start, created_at__lt=day.end
    ).aggregate(amount=Sum("amount"))
    discounts = (paid["sale"] or 0) + (paid["coupon"] or 0)
    gross = (paid["total"] or 0) + discounts
    refunds = refunded["amount"] or 0
    return {
        "orders": paid["orders"],
        "gross": gross,
        "discounts": discounts,
        "refunds": refunds,
        "net": gross - discounts - refunds,
    }


def _counts(rows: Iterable[Any]) -> dict[int, int]:
    """``{key: n}`` of ``values(key=...).annotate(n=...)`` rows."""
    return {row["key"]: row["n"] for row in rows}


def coupon_usage_compute(*, campaign_ids: list[int], day: LocalDay) -> dict[int, dict[str, int]]:
    """campaign id -> ``issued, used, issued_to_date, used_to_date`` for one day of the
    campaigns' market, for the campaigns that have a row that day (module docstring)."""
    if not campaign_ids:
        return {}
    coupons = Coupon.objects.filter(campaign_id__in=campaign_ids)
    issued_to_date = _counts(
        coupons.filter(claimed_at__lt=day.end).values(key=F("campaign_id")).annotate(n=Count("pk"))
    )
    issued = _counts(
        coupons.filter(claimed_at__gte=day.start, claimed_at__lt=day.end)
        .values(key=F("campaign_id"))
        .annotate(n=Count("pk"))
    )
    uses = CouponUse.objects.filter(coupon__campaign_id__in=campaign_ids, status__in=COUNTED_USES)
    paid_by_end = Order.objects.filter(paid_at__lt=day.end).values("number")
    paid_on_day = Order.objects.filter(paid_at__gte=day.start, paid_at__lt=day.end).values("number")
    used_to_date = _counts(
        uses.filter(order_number__in=paid_by_end).values(key=F("coupon__campaign_id")).annotate(n=Count("pk"))
    )
    used = _counts(
        uses.filter(order_number__in=paid_on_day).values(key=F("coupon__campaign_id")).annotate(n=Count("pk"))
    )
    running = set(
        Campaign.objects.filter(pk__in=campaign_ids, starts_at__lt=day.end, ends_at__gt=day.start)
        .exclude(status=Campaign.Status.DRAFT)
        .values_list("pk", flat=True)
    )
    out: dict[int, dict[str, int]] = {}
    for campaign_id in sorted(running | issued.keys() | used.keys()):
        out[campaign_id] = {
            "issued": issued.get(campaign_id, 0),
            "used": used.get(campaign_id, 0),
            "issued_to_date": issued_to_date.get(campaign_id, 0),
            "used_to_date": used_to_date.get(campaign_id, 0),
        }
    return out


def _rebuild_day(*, market: Market, campaign_ids: list[int], date: dt.date, now: dt.datetime) -> None:
    """One market-day in one transaction: its sales row and its campaigns' usage rows.

    Upserts (``INSERT ... ON CONFLICT DO UPDATE``), so two rebuilds of the same day at once
    (beat and an operator's command) both succeed with the same figures."""
    day = local_day(market, date)
    sales = daily_sales_compute(market=market, day=day)
    usage = coupon_usage_compute(campaign_ids=campaign_ids, day=day)
    with transaction.atomic():
        DailySales.objects.bulk_create(
            [DailySales(market=market, date=date, currency=market.currency, computed_at=now, **sales)],
            update_conflicts=True,
            unique_fields=["market", "date"],
            update_fields=["currency", *sales.keys(), "computed_at"],
        )
        if usage:
            CouponUsageDaily.objects.bulk_create(
                [
                    CouponUsageDaily(
                        campaign_id=campaign_id, market=market, date=date, computed_at=now, **figures
                    )
                    for campaign_id, figures in usage.items()
                ],
                update_conflicts=True,
                unique_fields=["campaign", "date"],
                update_fields=["market", "issued", "used", "issued_to_date", "used_to_date", "computed_at"],
            )
        # Rows of this market-day no longer due (a campaign moved to another market, or
        # source rows removed): the day is exactly what the source says now.
        CouponUsageDaily.objects.filter(date=date).filter(
            Q(market=market) | Q(campaign_id__in=campaign_ids)
        ).exclude(campaign_id__in=list(usage)).delete()


def aggregates_rebuild(*, market: Market | str | None = None, start: dt.date, end: dt.date) -> int:
    """Rebuild the daily sales and coupon usage of ``market`` (every active market when
    None) for its local days ``start``..``end`` (inclusive). Idempotent: run it again and
    the rows are the same. Returns the number of market-days rebuilt.

    Locks: none beyond the upserted rows; one transaction per market-day (not durable
    across days: a long backfill commits as it goes, and a failure keeps the days done).
    """
    if end < start:
        raise ValueError("end before start")
    done = 0
    for each in _markets(market):
        campaign_ids = campaign_ids_reported_in(each)
        for date in _dates(start, end):
            _rebuild_day(market=each, campaign_ids=campaign_ids, date=date, now=clock.now())
            done += 1
    logger.info(
        "analytics.aggregates_rebuilt",
        market=market.code if isinstance(market, Market) else market,
        start=start.isoformat(),
        end=end.isoformat(),
        days=done,
    )
    return done


def aggregates_refresh_due(*, now: dt.datetime | None = None) -> list[tuple[str, dt.date]]:
    """Beat (every few minutes): after each market's local midnight, build the day that
    ended, and any of the last ``ANALYTICS_CATCH_UP_DAYS`` days whose row is missing or was
    computed before that day's end plus ``ANALYTICS_SETTLE_MINUTES`` (payments and refunds
    committing just after midnight with a time before it are in). A day is built once
    it is settled; runs in between find nothing to do (one query per market).
    Returns the (market, date) pairs rebuilt."""
    now = now or clock.now()
    settle = dt.timedelta(minutes=settings.ANALYTICS_SETTLE_MINUTES)
    rebuilt: list[tuple[str, dt.date]] = []
    for market in _markets(None):
        today = local_today(market, now)
        first = today - dt.timedelta(days=settings.ANALYTICS_CATCH_UP_DAYS)
        computed = dict(
            DailySales.objects.filter(market=market, date__gte=first, date__lt=today).values_list(
                "date", "computed_at"
            )
        )
        due = []
        for date in _dates(first, today - dt.timedelta(days=1)):
            settled_at = local_day(market, date).end + settle
            if now < settled_at:
                continue  # just after midnight: wait for the late commits
            at = computed.get(date)
            if at is None or at < settled_at:
                due.append(date)
        if not due:
            continue
        campaign_ids = campaign_ids_reported_in(market)
        for date in due:
            _rebuild_day(market=market, campaign_ids=campaign_ids, date=date, now=now)
            rebuilt.append((market.code, date))
        logger.info("analytics.aggregates_refreshed", market=market.code, days=[d.isoformat() for d in due])
    return rebuilt
