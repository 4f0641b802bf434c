"""Report rows read from the aggregates: one flat shape for JSON, CSV and Parquet.

Amounts are integers in minor units of the row's ``currency`` (a report is a table: the
API's ``{amount, currency, display}`` money objects would not survive CSV or Parquet);
``usage_rate`` is a ``Decimal`` with 4 places or ``None``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from decimal import Decimal
from typing import Any

from django.conf import settings

from apps.analytics.errors import ReportRangeInvalid
from apps.analytics.models import CouponUsageDaily, DailySales, usage_rate

DAILY_SALES_COLUMNS = ("date", "market", "currency", "orders", "gross", "discounts", "refunds", "net")
COUPON_USAGE_COLUMNS = (
    "date",
    "campaign_id",
    "campaign",
    "market",
    "issued",
    "used",
    "issued_to_date",
    "used_to_date",
    "usage_rate",
)
#: Report name -> its columns, in order.
REPORTS: dict[str, tuple[str, ...]] = {
    "daily-sales": DAILY_SALES_COLUMNS,
    "coupon-usage": COUPON_USAGE_COLUMNS,
}


def report_range_check(*, start: dt.date, end: dt.date, max_days: int | None = None) -> None:
    """Raises: reports.invalid_range (``end`` before ``start``, or more than ``max_days``
    days, default ``ANALYTICS_REPORT_MAX_DAYS``)."""
    limit = max_days if max_days is not None else settings.ANALYTICS_REPORT_MAX_DAYS
    if end < start or (end - start).days + 1 > limit:
        raise ReportRangeInvalid(start=start.isoformat(), end=end.isoformat(), max_days=limit)


def daily_sales_rows(
    *, start: dt.date, end: dt.date, markets: Collection[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Daily sales of ``start``..``end`` (market-local dates), by date then market;
    ``markets`` None: all of them."""
    qs = DailySales.objects.filter(date__gte=start, date__lte=end)
    if markets is not None:
        qs = qs.filter(market_id__in=list(markets))
    for row in (
        qs.order_by("date", "market_id")
        .values_list("date", "market_id", "currency", "orders", "gross", "discounts", "refunds", "net")
        .iterator(chunk_size=2000)
    ):
        yield dict(zip(DAILY_SALES_COLUMNS, row, strict=True))


def coupon_usage_rows(
    *, start: dt.date, end: dt.date, markets: Collection[str] | None = None, language: str | None = None
) -> Iterator[dict[str, Any]]:
    """Coupon usage of ``start``..``end`` by date then campaign; the campaign's name in
    ``language`` (Korean for ``ko``, English otherwise)."""
    qs = CouponUsageDaily.objects.filter(date__gte=start, date__lte=end)
    if markets is not None:
        qs = qs.filter(market_id__in=list(markets))
    korean = (language or "").startswith("ko")
    for row in (
        qs.order_by("date", "campaign_id")
        .values(
            "date",
            "campaign_id",
            "campaign__name_ko",
            "campaign__name_en",
            "market_id",
            "issued",
            "used",
            "issued_to_date",
            "used_to_date",
        )
        .iterator(chunk_size=2000)
    ):
        rate: Decimal | None = usage_rate(used=row["used_to_date"], issued=row["issued_to_date"])
        yield {
            "date": row["date"],
            "campaign_id": row["campaign_id"],
            "campaign": row["campaign__name_ko"] if korean else row["campaign__name_en"],
            "market": row["market_id"],
            "issued": row["issued"],
            "used": row["used"],
            "issued_to_date": row["issued_to_date"],
            "used_to_date": row["used_to_date"],
            "usage_rate": rate,
        }


def report_rows(
    report: str,
    *,
    start: dt.date,
    end: dt.date,
    markets: Collection[str] | None = None,
    language: str | None = None,
) -> Iterator[dict[str, Any]]:
    if report == "daily-sales":
        return daily_sales_rows(start=start, end=end, markets=markets)
    return coupon_usage_rows(start=start, end=end, markets=markets, language=language)
