"""The back office's dashboard (issue 23 item 3): each section's numbers equal a direct
reckoning over the orders, payments, stock, outbox and coupons seeded through the
services; each role sees its sections only, in its markets only; the page renders the
charts as Chart.js canvases fed with JSON."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.utils import translation
from prometheus_client import REGISTRY

from apps.analytics import dashboard, services
from apps.core import clock
from apps.core.models import OutboxEvent
from apps.coupons import metrics as coupon_metrics
from apps.coupons import services as coupons
from apps.coupons.models import Coupon
from apps.integrations.models import DeliveryAttempt
from apps.integrations.selectors import outbox_stats
from apps.inventory.models import StockLevel
from apps.markets.models import Market
from apps.orders import services as orders
from apps.orders.models import Order, OrderPayment, OrderRefund
from tests.accounts.factories import staff
from tests.analytics.factories import reckon_daily_sales, utc
from tests.coupons.factories import active_campaign
from tests.inventory.factories import stocked_sku
from tests.orders.factories import items_of, key, method_for, paid_order, place, stocked
from tests.payments.factories import MemberFactory

pytestmark = pytest.mark.django_db

#: After the scenario (tests/analytics/factories.py): Dec 1 21:00 in Seoul, 07:00 in New York.
NOW = utc(2026, 12, 1, 12, 0)
#: A sandbox fault delay past the fixture's 1 s read timeout.
PAST_TIMEOUT = 1.5
FIGURES = ("orders", "gross", "discounts", "refunds", "net")


def _markets() -> list[Market]:
    return [Market.objects.get(code="KR"), Market.objects.get(code="US")]


def _local_date(instant: dt.datetime, market: Market) -> dt.date:
    return instant.astimezone(ZoneInfo(market.time_zone)).date()


def _window(market: Market) -> tuple[dt.date, dt.date]:
    today = _local_date(NOW, market)
    return today - dt.timedelta(days=29), today


# --- sales and order completion ---------------------------------------------------------
def test_sales_per_market_equal_the_direct_reckoning_today_and_over_30_days(scenario, at):
    # given: the scenario's four paid orders and three refunds (Nov 29 .. Dec 1), the past
    # days aggregated, and one more KR order placed today and not paid
    services.aggregates_rebuild(start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30))
    at(NOW - dt.timedelta(minutes=1))
    place(MemberFactory(), Market.objects.get(code="KR"))
    at(NOW)

    # when
    section = dashboard.sales_section(markets=_markets(), language="en", now=NOW)

    # then: every day of the window, today's included, is what the orders and refunds say
    for shown, market in zip(section["markets"], _markets(), strict=True):
        first, today = _window(market)
        assert shown["market"] == market.code and shown["currency"] == market.currency
        assert [point["date"] for point in shown["days"]] == [first + dt.timedelta(days=i) for i in range(30)]
        expected_days = [reckon_daily_sales(market, point["date"]) for point in shown["days"]]
        assert [{f: point[f] for f in FIGURES} for point in shown["days"]] == expected_days
        assert {f: shown["today"][f] for f in FIGURES} == reckon_daily_sales(market, today)
        assert {f: shown["last_30_days"][f] for f in FIGURES} == {
            f: sum(day[f] for day in expected_days) for f in FIGURES
        }
        assert shown["days_missing"] == 0
        # completion: of the orders placed in the window (today), the share paid since
        placed = [
            o
            for o in Order.objects.filter(market=market)
            if first <= _local_date(o.created_at, market) <= today
        ]
        placed_today = [o for o in placed if _local_date(o.created_at, market) == today]
        window = shown["completion"]["last_30_days"]
        assert (window["placed"], window["completed"]) == (
            len(placed),
            sum(1 for o in placed if o.paid_at is not None),
        )
        assert (shown["completion"]["today"]["placed"], shown["completion"]["today"]["completed"]) == (
            len(placed_today),
            sum(1 for o in placed_today if o.paid_at is not None),
        )
    kr, us = section["markets"]
    # KR: A and B cancelled after payment today (Seoul's Dec 1): refunds, no sale
    a, b = scenario.orders["A"], scenario.orders["B"]
    assert (kr["today"]["orders"], kr["today"]["refunds"]) == (0, a.total + b.total)
    assert kr["today"]["net_display"] == f"-₩{a.total + b.total:,}"
    assert kr["completion"]["today"]["rate_display"] == "0.0%"  # placed 1, paid 0
    assert kr["completion"]["last_30_days"]["rate_display"] == "66.7%"  # A, B paid; today's not
    assert us["completion"]["last_30_days"]["rate_display"] == "100.0%"
    assert us["last_30_days"]["net_display"].startswith("$")


def test_the_sales_chart_is_daily_net_and_gross_in_major_units_with_gaps_for_days_not_aggregated(scenario):
    # given: only Nov 29 and Nov 30 aggregated
    services.aggregates_rebuild(start=dt.date(2026, 11, 29), end=dt.date(2026, 11, 30))

    # when
    with translation.override("ko"):
        section = dashboard.sales_section(markets=_markets(), language="ko", now=NOW)

    # then
    kr, us = section["markets"]
    assert kr["days_missing"] == us["days_missing"] == 27  # Nov 2 .. Nov 28
    chart = json.loads(us["chart"])
    assert len(chart["labels"]) == 30
    net = chart["datasets"][0]["data"]
    assert net[:27] == [None] * 27
    nov29, nov30 = (reckon_daily_sales(_markets()[1], dt.date(2026, 11, d)) for d in (29, 30))
    assert net[27:29] == [nov29["net"] / 100, nov30["net"] / 100]  # cents -> dollars
    assert chart["datasets"][0]["label"] == "순매출 (USD)"
    assert json.loads(kr["chart"])["datasets"][1]["data"][28] == float(
        reckon_daily_sales(_markets()[0], dt.date(2026, 11, 30))["gross"]
    )  # won have no minor unit
    # and the 30 days' totals are those of the days known
    assert us["last_30_days"]["net"] == nov29["net"] + nov30["net"] + us["today"]["net"]


def test_the_sales_section_is_three_queries_for_every_market(scenario, django_assert_num_queries):
    services.aggregates_rebuild(start=dt.date(2026, 11, 29), end=dt.date(2026, 11, 30))
    markets = _markets()

    with django_assert_num_queries(3):
        dashboard.sales_section(markets=markets, language="en", now=NOW)


# --- payments -----------------------------------------------------------------------------
def test_payment_outcomes_are_the_order_payments_by_status_per_market(sandbox, kr, us):
    # given: two wallet payments (KR, US), one declined and one timed-out method payment (KR)
    paid_order(market=kr)
    paid_order(market=us)
    member = MemberFactory()
    method = method_for(member, kr)
    _, sku = stocked(kr=12_900)
    declined = place(member, kr, items_of((sku, 1)))
    sandbox.set_fault("fail", operations=["charge"])
    with pytest.raises(Exception):
        orders.order_pay_method(
            order_id=str(declined.public_id),
            user=member,
            payment_method_id=str(method.public_id),
            idempotency_key=key(),
        )
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    in_flight = place(member, kr, items_of((sku, 1)))
    orders.order_pay_method(
        order_id=str(in_flight.public_id),
        user=member,
        payment_method_id=str(method.public_id),
        idempotency_key=key(),
    )
    sandbox.set_fault("ok")

    # when
    section = dashboard.payments_section(markets=[kr, us], language="en")

    # then: equal to the payments table grouped by market and status
    def direct(market: str) -> dict[str, int]:
        rows = OrderPayment.objects.filter(order__market_id=market)
        return {
            "captured": rows.filter(status__in=["captured", "refunded"]).count(),
            "failed": rows.filter(status="failed").count(),
            "pending": rows.filter(status="pending").count(),
        }

    shown = {m["market"]: m for m in section["markets"]}
    for market in ("KR", "US"):
        for period in ("today", "last_30_days"):
            assert {o: shown[market][period][o] for o in dashboard.PAYMENT_OUTCOMES} == direct(market)
    assert direct("KR") == {"captured": 1, "failed": 1, "pending": 1}
    assert shown["KR"]["last_30_days"]["capture_rate_display"] == "50.0%"  # 1 of 2 decided
    chart = json.loads(section["chart"])
    assert chart["labels"] == ["Captured", "Failed", "Still pending"]
    assert [(d["label"], d["data"]) for d in chart["datasets"]] == [("KR", [1, 1, 1]), ("US", [1, 0, 0])]


# --- orders needing attention ----------------------------------------------------------------
def _attention_seed(sandbox, settings, at) -> dict[str, Order]:  # type: ignore[no-untyped-def]
    """KR: a payment in flight, a refund owed to a card, an order paid three days ago and
    not shipped, an order paid an hour ago; US: an order paid three days ago."""
    kr, us = Market.objects.get(code="KR"), Market.objects.get(code="US")
    start = clock.now()
    at(start - dt.timedelta(days=3))
    stale_kr = paid_order(market=kr)
    stale_us = paid_order(market=us)
    at(start - dt.timedelta(hours=1))
    fresh = paid_order(market=kr)
    member = MemberFactory()
    method = method_for(member, kr)
    _, sku = stocked(kr=12_900)
    refunded = place(member, kr, items_of((sku, 1)))
    orders.order_pay_method(
        order_id=str(refunded.public_id),
        user=member,
        payment_method_id=str(method.public_id),
        idempotency_key=key(),
    )
    sandbox.set_fault("fail", operations=["refund"])
    orders.order_cancel(order_id=str(refunded.public_id), user=member)  # the card refund waits
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    in_flight = place(member, kr, items_of((sku, 1)))
    orders.order_pay_method(
        order_id=str(in_flight.public_id),
        user=member,
        payment_method_id=str(method.public_id),
        idempotency_key=key(),
    )
    sandbox.set_fault("ok")
    at(start)
    return {
        "stale_kr": stale_kr,
        "stale_us": stale_us,
        "fresh": fresh,
        "refunded": refunded,
        "in_flight": in_flight,
    }


def _direct_attention(markets: list[str], now: dt.datetime, settings) -> set[str]:  # type: ignore[no-untyped-def]
    settle = dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS)
    numbers = set(
        OrderPayment.objects.filter(status="pending", created_at__lt=now - settle).values_list(
            "order__number", flat=True
        )
    )
    numbers |= set(
        OrderPayment.objects.filter(status="failed", failure_code="refund_due").values_list(
            "order__number", flat=True
        )
    )
    numbers |= set(OrderRefund.objects.filter(status="pending").values_list("order__number", flat=True))
    numbers |= set(
        Order.objects.filter(status="paid", paid_at__lt=now - dt.timedelta(hours=48)).values_list(
            "number", flat=True
        )
    )
    return set(
        Order.objects.filter(number__in=numbers, market_id__in=markets).values_list("number", flat=True)
    )


def test_orders_needing_attention_equal_the_direct_query_and_stay_in_the_agents_market(sandbox, settings, at):
    seeded = _attention_seed(sandbox, settings, at)
    now = clock.now() + dt.timedelta(minutes=5)  # the payment in flight is past its settle time
    kr = Market.objects.get(code="KR")

    with translation.override("ko"):
        section = dashboard.attention_section(markets=[kr], language="ko", now=now)
        everywhere = dashboard.attention_section(markets=_markets(), language="ko", now=now)

    shown = {row["number"] for row in section["rows"]}
    assert shown == _direct_attention(["KR"], now, settings)
    assert shown == {seeded[n].number for n in ("stale_kr", "refunded", "in_flight")}
    assert section["counts"] == {"payment_pending": 1, "refund_due": 1, "unfulfilled": 1}
    assert section["total"] == 3
    assert {row["market"] for row in section["rows"]} == {"KR"}
    assert {row["number"] for row in everywhere["rows"]} == _direct_attention(["KR", "US"], now, settings)
    assert everywhere["counts"]["unfulfilled"] == 2
    row = next(r for r in section["rows"] if r["number"] == seeded["refunded"].number)
    assert row["reasons"] == ["환불 대기"] and row["link"].endswith(f"/{seeded['refunded'].pk}/change/")
    assert json.loads(section["chart"])["datasets"][0]["data"] == [1, 1, 1]


# --- low stock --------------------------------------------------------------------------------
def test_low_stock_lists_the_levels_at_or_below_their_threshold_in_the_users_markets(db, settings):
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 5
    low_kr = stocked_sku({"KR-LOW": 2})
    stocked_sku({"KR-LOW": 40})
    low_us = stocked_sku({"US-LOW": 5}, market="US")
    StockLevel.objects.filter(sku__code=low_kr).update(low_stock_threshold=3)

    kr_only = dashboard.low_stock_section(markets=[Market.objects.get(code="KR")], language="en")
    both = dashboard.low_stock_section(markets=_markets(), language="en")

    direct = [
        level
        for level in StockLevel.objects.select_related("sku", "warehouse")
        if level.on_hand - level.reserved
        <= (level.low_stock_threshold if level.low_stock_threshold is not None else 5)
    ]
    assert both["total"] == len(direct) == 2
    assert [(r["sku"], r["available"], r["threshold"]) for r in both["rows"]] == [
        (low_kr, 2, 3),
        (low_us, 5, 5),
    ]
    assert (kr_only["total"], [r["sku"] for r in kr_only["rows"]]) == (1, [low_kr])
    chart = json.loads(both["chart"])
    assert [d["data"] for d in chart["datasets"]] == [[2, 5], [3, 5]]


# --- outbox -----------------------------------------------------------------------------------
def test_outbox_backlog_and_failures_are_the_relays_stats_and_calls_per_hour(db):
    now = clock.now()
    paid_order()  # order and wallet events in the outbox
    OutboxEvent.objects.filter(pk=OutboxEvent.objects.order_by("sequence").values("pk")[:1]).update(
        status=OutboxEvent.Status.FAILED
    )
    # (one second ago: "this hour" whatever the minute the test runs at)
    for seconds, outcome in ((1, "ok"), (70 * 60, "ok"), (75 * 60, "http_error"), (30 * 3600, "ok")):
        DeliveryAttempt.objects.create(started_at=now - dt.timedelta(seconds=seconds), outcome=outcome)

    section = dashboard.outbox_section(language="en", now=now)

    stats = outbox_stats(now=now)
    assert (
        section["backlog"]
        == stats["pending"] + stats["delivering"]
        == OutboxEvent.objects.filter(status__in=["pending", "delivering"]).count()
    )
    assert section["failed"] == stats["failed"] == 1
    chart = json.loads(section["chart"])
    ok, failed = (d["data"] for d in chart["datasets"])
    assert len(ok) == 24 and sum(ok) == 2 and sum(failed) == 1  # the 30-hour-old call is out
    assert ok[-1] == 1  # this hour's


# --- reservation latency -----------------------------------------------------------------
def _observed() -> dict[str, float]:
    """Reservation steps observed so far, per operation, read from the registry directly."""
    counts: dict[str, float] = {}
    for metric in REGISTRY.collect():
        if metric.name == "joopang_inventory_reservation_seconds":
            for sample in metric.samples:
                if sample.name.endswith("_count"):
                    op = sample.labels["operation"]
                    counts[op] = counts.get(op, 0) + sample.value
    return counts


def test_reservation_latency_is_read_from_the_prometheus_histogram(db):
    before = _observed()

    paid_order()  # one hold (placing) and one commit (paying)

    section = dashboard.reservation_latency_section(language="en")
    after = _observed()
    shown = {op["operation"]: op for op in section["operations"]}
    assert after["hold"] == before.get("hold", 0) + 1 and after["commit"] == before.get("commit", 0) + 1
    assert {op: shown[op]["count"] for op in ("hold", "commit")} == {
        op: int(after[op]) for op in ("hold", "commit")
    }
    assert shown["hold"]["p95"] is not None and 0 < shown["hold"]["p50"] <= shown["hold"]["p95"] <= 5
    assert section["observed"] is True
    chart = json.loads(section["chart"])
    assert [sum(d["data"]) for d in chart["datasets"]] == [int(after["hold"]), int(after["commit"])]
    assert chart["labels"][0] == "≤ 1.0 ms" and chart["labels"][-1] == "over 5.00 s"


def test_histogram_quantile_is_promqls():
    buckets = [(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (math.inf, 40.0)]

    assert dashboard.histogram_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (20 - 10) / 20)
    assert dashboard.histogram_quantile(0.95, buckets) == pytest.approx(0.5 + 0.5 * (38 - 30) / 10)
    assert dashboard.histogram_quantile(0.99, [(0.1, 1.0), (math.inf, 5.0)]) == 0.1  # in +Inf
    assert dashboard.histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None


# --- coupons ------------------------------------------------------------------------------------
def test_a_live_campaigns_burn_down_success_rate_and_remaining_equal_its_claims(db, at):
    start = utc(2026, 11, 30, 0, 0)
    at(start)
    marketer = staff("marketing_manager")
    campaign = active_campaign(
        actor=marketer, total_quantity=10, starts_at=start, ends_at=start + dt.timedelta(hours=24)
    )
    kr = Market.objects.get(code="KR")
    for minutes in (5, 10, 70, 190):
        at(start + dt.timedelta(minutes=minutes))
        coupons.coupon_claim(campaign_id=campaign.pk, user=MemberFactory(), market=kr)
    for _ in range(4):
        coupon_metrics.claim_rejected(campaign_id=campaign.pk, reason="coupon.already_claimed")
    active_campaign(actor=marketer, name_en="Later", starts_at=start + dt.timedelta(days=2))  # not live
    now = start + dt.timedelta(hours=3, minutes=30)
    at(now)

    with translation.override("en"):
        section = dashboard.coupons_section(markets=[kr], language="en", now=now)

    (shown,) = section["campaigns"]
    claims = list(Coupon.objects.filter(campaign=campaign).values_list("claimed_at", flat=True))
    hours = [start + dt.timedelta(hours=h) for h in range(4)]  # 00:00 .. 03:00 UTC
    expected = [10 - sum(1 for c in claims if c < hour + dt.timedelta(hours=1)) for hour in hours]
    assert shown["burn_down"] == expected == [8, 7, 7, 6]
    assert (shown["issued"], shown["remaining"], shown["refused"]) == (4, 6, 4)
    assert shown["success_rate_display"] == "50.0%"  # 4 issued of 8 claims
    chart = json.loads(shown["chart"])
    assert chart["datasets"][0]["data"] == expected and chart["datasets"][0]["label"] == "Coupons left"
    # a US-only staff member sees no KR campaign
    assert (
        dashboard.coupons_section(markets=[Market.objects.get(code="US")], language="en", now=now)[
            "campaigns"
        ]
        == []
    )


def test_a_long_campaigns_burn_down_is_by_local_day():
    zone = ZoneInfo("Asia/Seoul")
    start = utc(2026, 11, 1, 15, 0)  # Nov 2 00:00 KST
    # Seoul's Nov 2 01:00, Nov 3 01:00 (still Nov 2 in UTC), Nov 5 00:00 (Nov 4 in UTC)
    claims = {utc(2026, 11, 1, 16, 0): 2, utc(2026, 11, 2, 16, 0): 1, utc(2026, 11, 4, 15, 0): 3}

    points = dashboard.burn_down(
        claims=claims,
        starts_at=start,
        ends_at=start + dt.timedelta(days=30),
        now=utc(2026, 11, 5, 0, 0),
        zone=zone,
    )

    assert points == [("11-02", 2), ("11-03", 3), ("11-04", 3), ("11-05", 6)]


# --- who sees what ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "sections"),
    [
        ("ops_admin", ["sales", "payments", "attention", "latency", "low_stock", "outbox", "coupons"]),
        ("marketing_manager", ["coupons"]),
        ("cs_agent", ["attention"]),
        ("inventory_manager", ["low_stock"]),
    ],
)
def test_each_role_sees_its_sections(db, role, sections):
    assert dashboard.dashboard_sections(staff(role)) == sections


def test_a_member_has_no_dashboard(db):
    assert dashboard.dashboard_sections(MemberFactory()) == []


def _html(response: Any) -> str:
    return response.content.decode()


def _ids(html: str) -> set[str]:
    return set(re.findall(r'<section id="dashboard-([a-z-]+)"', html))


def test_marketing_sees_only_the_coupon_part_and_no_sales_figure(client, db):
    marketer = staff("marketing_manager")
    active_campaign(actor=marketer, total_quantity=100)
    paid_order()
    client.force_login(marketer)

    html = _html(client.get("/admin/"))

    assert _ids(html) == {"coupons"}
    assert "Spring coupon" in html or "봄맞이 쿠폰" in html
    assert 'data-type="line"' in html
    assert "₩" not in html.split('id="dashboard-coupons"', 1)[1].split("</section>", 1)[0]


def test_a_kr_agent_sees_only_kr_orders_needing_attention(client, at):
    kr, us = Market.objects.get(code="KR"), Market.objects.get(code="US")
    start = clock.now()
    at(start - dt.timedelta(days=3))
    kr_order, us_order = paid_order(market=kr), paid_order(market=us)
    at(start)
    client.force_login(staff("cs_agent", market="KR"))

    html = _html(client.get("/admin/"))

    assert _ids(html) == {"attention"}
    assert kr_order.number in html and us_order.number not in html
    assert 'data-markets="KR"' in html


def test_ops_gets_every_section_with_chart_canvases_fed_with_json(client, db):
    paid_order()
    client.force_login(staff("ops_admin"))

    html = _html(client.get("/admin/"))

    assert _ids(html) == {"sales", "payments", "attention", "latency", "low-stock", "outbox", "coupons"}
    canvases = re.findall(r'<canvas class="chart"[^>]*data-type="(\w+)" data-value="([^"]+)"', html)
    assert len(canvases) >= 6  # sales per market (2), payments, attention, latency, outbox
    for _type, value in canvases:
        data = json.loads(value.replace("&quot;", '"').replace("&amp;", "&").replace("&#x27;", "'"))
        assert data["labels"] and data["datasets"]


def test_the_dashboard_is_cached_briefly_per_markets_and_language(
    client, db, settings, django_assert_max_num_queries
):
    settings.DASHBOARD_CACHE_SECONDS = 60
    ops = staff("ops_admin")
    paid_order()
    with translation.override("en"):
        first = dashboard.dashboard_for(ops)
        paid_order()  # a second sale: not shown until the cache expires
        with django_assert_max_num_queries(2):  # the user's groups and market scope only
            again = dashboard.dashboard_for(ops)
        assert again["sales"] == first["sales"]
        cache.clear()
        fresh = dashboard.dashboard_for(ops)
    assert (
        fresh["sales"]["markets"][0]["today"]["orders"] == first["sales"]["markets"][0]["today"]["orders"] + 1
    )


def test_building_the_whole_ops_dashboard_takes_a_bounded_number_of_queries(
    db, settings, django_assert_max_num_queries
):
    settings.DASHBOARD_CACHE_SECONDS = 0
    ops = staff("ops_admin")
    for _ in range(3):
        paid_order()
    with translation.override("en"), django_assert_max_num_queries(20):
        dashboard.dashboard_for(ops)
