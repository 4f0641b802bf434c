"""Daily aggregates (issue 23 item 1): days end at each market's midnight, not UTC's;
refunds land on the local day they were made; the rows equal a direct reckoning over the
orders; rebuilding is idempotent; beat builds each market's day after its own midnight."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.analytics import services
from apps.analytics.models import CouponUsageDaily, DailySales
from apps.markets.models import Market
from apps.orders import services as orders
from apps.orders.models import Order
from tests.analytics.factories import (
    KST,
    reckon_coupon_usage,
    reckon_daily_sales,
    utc,
)

pytestmark = pytest.mark.django_db

DAYS = [dt.date(2026, 11, 28) + dt.timedelta(days=i) for i in range(5)]  # Nov 28 .. Dec 2


def _row(market: str, date: dt.date) -> dict[str, int]:
    row = DailySales.objects.get(market_id=market, date=date)
    return {f: getattr(row, f) for f in ("orders", "gross", "discounts", "refunds", "net")}


def _day(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


def test_a_day_ends_at_the_markets_midnight_not_at_utc_midnight(scenario):
    # given A paid at 23:59 KST and B one minute later (both on Nov 29 in UTC), C at 23:30 EST
    # on Nov 29 (Nov 30 in UTC) and D at 00:00 EST on Nov 30
    a, b, c, d = (scenario.orders[name] for name in "ABCD")

    # when the aggregates are rebuilt for those days
    services.aggregates_rebuild(start=DAYS[0], end=DAYS[-1])

    # then A is Seoul's Nov 29 and B Seoul's Nov 30; C New York's Nov 29 and D its Nov 30
    assert (_row("KR", _day(11, 29))["orders"], _row("KR", _day(11, 30))["orders"]) == (1, 1)
    assert (_row("US", _day(11, 29))["orders"], _row("US", _day(11, 30))["orders"]) == (1, 1)
    assert _row("KR", _day(11, 29))["gross"] == a.subtotal + a.shipping_fee == 24_000 + a.shipping_fee
    assert _row("KR", _day(11, 29))["discounts"] == a.sale_discount == 2 * (12_000 - 9_900)
    assert _row("KR", _day(11, 30))["discounts"] == b.coupon_discount == 1_000
    assert _row("US", _day(11, 29))["gross"] == c.subtotal + c.shipping_fee + c.tax  # US tax on top
    assert _row("US", _day(11, 30))["gross"] == d.subtotal + d.shipping_fee + d.tax
    assert DailySales.objects.get(market_id="US", date=_day(11, 29)).currency == "USD"
    # and no day of UTC's making: Nov 28 and Dec 2 are empty in both markets
    assert _row("KR", _day(11, 28))["orders"] == _row("US", _day(12, 2))["orders"] == 0


def test_a_refund_lands_on_the_local_day_it_was_made_and_leaves_the_sale_day_alone(scenario):
    a, b, c = (scenario.orders[name] for name in "ABC")

    services.aggregates_rebuild(start=DAYS[0], end=DAYS[-1])

    # A (sold Nov 29 KST) was refunded at 01:00 KST on Dec 1, B (sold Nov 30) at 09:00 on Dec 1
    assert _row("KR", _day(11, 29))["refunds"] == 0
    assert _row("KR", _day(11, 29))["net"] == a.total
    assert _row("KR", _day(12, 1)) == {
        "orders": 0,
        "gross": 0,
        "discounts": 0,
        "refunds": a.total + b.total,
        "net": -(a.total + b.total),
    }
    # C (sold Nov 29 EST) had one of two units returned at 22:00 EST on Nov 30 (Dec 1 in UTC)
    returned = c.refunds.get().amount
    assert 0 < returned < c.total
    assert _row("US", _day(11, 30))["refunds"] == returned
    assert _row("US", _day(12, 1))["refunds"] == 0
    # over the whole range: money taken minus money given back
    kept = sum(DailySales.objects.filter(market_id="KR").values_list("net", flat=True))
    assert kept == 0  # both KR orders were refunded in full


def test_every_row_equals_a_direct_reckoning_over_the_orders(scenario):
    services.aggregates_rebuild(start=DAYS[0], end=DAYS[-1])

    for market in Market.objects.filter(is_active=True):
        for date in DAYS:
            assert _row(market.code, date) == reckon_daily_sales(market, date), (market.code, date)
    assert DailySales.objects.count() == 2 * len(DAYS)


def test_coupon_usage_counts_claims_and_paid_uses_on_the_campaigns_local_days(scenario):
    campaign = scenario.campaign

    services.aggregates_rebuild(market="KR", start=DAYS[0], end=DAYS[-1])

    rows = {r.date: r for r in CouponUsageDaily.objects.filter(campaign=campaign)}
    # the campaign ran from 19:00 KST Nov 29 for three days: a row per day it touches
    assert sorted(rows) == [_day(11, 29), _day(11, 30), _day(12, 1), _day(12, 2)]
    # claims at 23:00 KST Nov 29 and 00:30 KST Nov 30; B used its coupon when paid at 00:00
    # KST Nov 30; B's cancellation on Dec 1 restored the coupon but the use happened
    assert [(rows[d].issued, rows[d].used) for d in sorted(rows)] == [(1, 0), (1, 1), (0, 0), (0, 0)]
    assert rows[_day(11, 29)].usage_rate == Decimal("0.0000")
    assert rows[_day(11, 30)].usage_rate == Decimal("0.5000")
    assert all(r.market_id == "KR" for r in rows.values())
    for date, row in rows.items():
        expected = reckon_coupon_usage(campaign, KST, date)
        assert {
            "issued": row.issued,
            "used": row.used,
            "issued_to_date": row.issued_to_date,
            "used_to_date": row.used_to_date,
            "usage_rate": row.usage_rate,
        } == expected, date


def test_rebuilding_is_idempotent_and_a_later_refund_changes_only_its_own_day(scenario, at):
    services.aggregates_rebuild(start=DAYS[0], end=DAYS[-1])
    before = {(r.market_id, r.date): _row(r.market_id, r.date) for r in DailySales.objects.all()}
    usage_before = list(
        CouponUsageDaily.objects.order_by("pk").values("campaign_id", "date", "issued", "used")
    )

    # when the same days are rebuilt again (through the command)
    call_command("rebuild_aggregates", "--from", "2026-11-28", "--to", "2026-12-02")

    # then nothing changed
    assert {(r.market_id, r.date): _row(r.market_id, r.date) for r in DailySales.objects.all()} == before
    assert (
        list(CouponUsageDaily.objects.order_by("pk").values("campaign_id", "date", "issued", "used"))
        == usage_before
    )

    # when D (sold Nov 30 EST) is cancelled at 20:00 EST on Dec 2 and the days are rebuilt
    d = scenario.orders["D"]
    at(utc(2026, 12, 3, 1, 0))
    orders.order_cancel(order_id=str(d.public_id), user=d.user)
    services.aggregates_rebuild(market="US", start=DAYS[0], end=DAYS[-1])

    # then only New York's Dec 2 moved
    after = {(r.market_id, r.date): _row(r.market_id, r.date) for r in DailySales.objects.all()}
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {("US", _day(12, 2))}
    assert after[("US", _day(12, 2))]["refunds"] == Order.objects.get(pk=d.pk).total


def test_beat_builds_each_markets_day_after_its_own_midnight(db, at, settings, kr, us):
    settings.ANALYTICS_SETTLE_MINUTES = 5
    settings.ANALYTICS_CATCH_UP_DAYS = 2
    # given nothing built, at 00:04 KST on Dec 1 (15:04 UTC Nov 30: 10:04 EST Nov 30)
    now = utc(2026, 11, 30, 15, 4)

    # then only days already settled are built: KR Nov 29, US Nov 28 and 29
    assert services.aggregates_refresh_due(now=now) == [
        ("KR", _day(11, 29)),
        ("US", _day(11, 28)),
        ("US", _day(11, 29)),
    ]
    # and at 00:06 KST the day that just ended in Seoul (Nov 30) is built once
    later = now + dt.timedelta(minutes=2)
    assert services.aggregates_refresh_due(now=later) == [("KR", _day(11, 30))]
    assert services.aggregates_refresh_due(now=later + dt.timedelta(minutes=5)) == []
    # New York's Nov 30 waits for New York's midnight (05:00 UTC Dec 1) plus the settle time
    assert services.aggregates_refresh_due(now=utc(2026, 12, 1, 5, 4)) == []
    assert services.aggregates_refresh_due(now=utc(2026, 12, 1, 5, 5)) == [("US", _day(11, 30))]


def test_a_row_computed_before_its_day_settled_is_built_again(db, at, settings, kr, us):
    settings.ANALYTICS_SETTLE_MINUTES = 5
    settings.ANALYTICS_CATCH_UP_DAYS = 1
    # given KR Nov 30 built by hand at 23:50 KST that day (a payment may still come)
    at(utc(2026, 11, 30, 14, 50))
    services.aggregates_rebuild(market="KR", start=_day(11, 30), end=_day(11, 30))

    # when beat runs at 00:10 KST Dec 1
    rebuilt = services.aggregates_refresh_due(now=utc(2026, 11, 30, 15, 10))

    # then that day is rebuilt, since its row predates the day's end
    assert ("KR", _day(11, 30)) in rebuilt


def test_a_new_york_day_is_25_hours_when_daylight_saving_time_ends(us):
    day = services.local_day(us, _day(11, 1))

    assert day.end - day.start == dt.timedelta(hours=25)
    assert day.start == utc(2026, 11, 1, 4, 0)  # midnight EDT


def test_the_task_runs_the_refresh(db, at, settings, kr, us):
    from apps.analytics.tasks import aggregates_refresh_due_task

    settings.ANALYTICS_CATCH_UP_DAYS = 1
    at(utc(2026, 11, 30, 12, 0))

    assert aggregates_refresh_due_task.apply().get() == 2  # yesterday in each market
    assert DailySales.objects.count() == 2


def test_the_command_refuses_a_reversed_range_and_an_unknown_market(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("rebuild_aggregates", "--from", "2026-12-02", "--to", "2026-12-01")
    with pytest.raises(CommandError):
        call_command("rebuild_aggregates", "--from", "2026-12-01", "--to", "2026-12-01", "--market", "JP")
    assert DailySales.objects.count() == 0
