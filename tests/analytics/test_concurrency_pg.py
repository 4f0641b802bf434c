"""Rebuilds racing on PostgreSQL: beat and an operator's command rebuilding the same days at
the same moment, in separate OS processes. Every rebuild succeeds (upserts, no unique
violation), and the rows are exactly the direct reckoning. Skipped on SQLite."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.analytics import services
from apps.analytics.models import CouponUsageDaily, DailySales
from apps.markets.models import Market
from tests.analytics.factories import KST, reckon_coupon_usage, reckon_daily_sales
from tests.utils.processes import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

FIRST, LAST = dt.date(2026, 11, 28), dt.date(2026, 12, 2)
PROCESSES = 4


def _rebuild(market: str | None) -> int:
    return services.aggregates_rebuild(market=market, start=FIRST, end=LAST)


def test_simultaneous_rebuilds_of_the_same_days_all_succeed_with_the_same_rows(require_postgres, scenario):
    # given the scenario's orders, refunds and coupons, and nothing built yet
    assert DailySales.objects.count() == 0

    # when four processes rebuild the same days at once (two all markets, two KR only)
    done = run_concurrently(_rebuild, [(None,), (None,), ("KR",), ("KR",)])

    # then each rebuilt its days and the rows are the direct reckoning, once each
    assert sorted(done) == [5, 5, 10, 10]
    assert DailySales.objects.count() == 10
    for market in Market.objects.filter(is_active=True):
        for row in DailySales.objects.filter(market=market):
            figures = {f: getattr(row, f) for f in ("orders", "gross", "discounts", "refunds", "net")}
            assert figures == reckon_daily_sales(market, row.date), (market.code, row.date)
    usage = CouponUsageDaily.objects.filter(campaign=scenario.campaign).order_by("date")
    assert usage.count() == 4
    for row in usage:
        expected = reckon_coupon_usage(scenario.campaign, KST, row.date)
        assert (row.issued, row.used, row.issued_to_date, row.used_to_date) == (
            expected["issued"],
            expected["used"],
            expected["issued_to_date"],
            expected["used_to_date"],
        )
