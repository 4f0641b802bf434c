"""The back office's dashboard in headless Chromium (issue 23 Show): ops sees every
section with real charts (Chart.js canvases drawn, one chart instance each); marketing
sees only the coupon part; a KR-scoped CS agent sees only KR's orders needing attention.
Screenshots in ``test-results/dashboard-<role>.png``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.analytics import services as analytics
from apps.core import clock
from apps.markets.models import Market
from tests.accounts.factories import PASSWORD, staff
from tests.coupons.factories import active_campaign
from tests.e2e.conftest import RESULTS
from tests.inventory.factories import stocked_sku
from tests.orders.factories import paid_order

pytestmark = pytest.mark.django_db(transaction=True)

SECTIONS = ("sales", "payments", "attention", "latency", "low-stock", "outbox", "coupons")


def _seed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Orders paid three days ago (not shipped) and today in both markets, the past days
    aggregated, a low stock level, a live campaign with a limit."""
    kr, us = Market.objects.get(code="KR"), Market.objects.get(code="US")
    now = clock.now()
    with monkeypatch.context() as patch:
        patch.setattr(clock, "now", lambda: now - dt.timedelta(days=3))
        stale_kr, stale_us = paid_order(market=kr), paid_order(market=us)
    paid_order(market=kr)
    paid_order(market=us)
    analytics.aggregates_rebuild(
        start=(now - dt.timedelta(days=31)).date(), end=(now - dt.timedelta(days=1)).date()
    )
    stocked_sku({"KR-E2E": 1})
    campaign = active_campaign(actor=staff("marketing_manager"), name_ko="주말 특가 쿠폰", total_quantity=100)
    return {"stale_kr": stale_kr, "stale_us": stale_us, "campaign": campaign}


def _log_in(page, base: str, email: str) -> list[str]:  # type: ignore[no-untyped-def]
    problems: list[str] = []  # script errors and Content-Security-Policy refusals
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(base + "/admin/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.locator("form#login-form button[type=submit], form button[type=submit]").first.click()
    page.wait_for_url(base + "/admin/")
    return problems


def _charts(page, scope: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Each canvas under ``scope``: its drawn size and the Chart.js chart bound to it."""
    return page.evaluate(
        """(scope) => [...document.querySelectorAll(scope + ' canvas.chart')].map(c => {
               const chart = Chart.getChart(c);
               return {width: c.getBoundingClientRect().width, height: c.getBoundingClientRect().height,
                       type: chart ? chart.config.type : null,
                       points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0};
           })""",
        scope,
    )


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"dashboard-{name}.png"), full_page=True)


def test_ops_sees_every_section_with_drawn_charts(page, live_server, monkeypatch):
    _seed(monkeypatch)
    problems = _log_in(page, live_server.url, staff("ops_admin", email="ops-dash@staff.test").email)

    for section in SECTIONS:
        expect(page.locator(f"#dashboard-{section}")).to_be_visible()
    expect(page.locator("#dashboard-sales")).to_contain_text("₩")
    expect(page.locator("#dashboard-sales")).to_contain_text("$")
    expect(page.locator("#dashboard-coupons")).to_contain_text("주말 특가 쿠폰")
    charts = _charts(page, "#dashboard")
    # sales per market (2), payments, attention, reservation latency, low stock, outbox, one campaign
    assert len(charts) == 8, charts
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 100, chart
        assert chart["type"] in ("line", "bar") and chart["points"] > 0, chart
    assert [c["type"] for c in _charts(page, "#dashboard-sales")] == ["line", "line"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    _shot(page, "ops_admin")
    assert problems == []


def test_marketing_sees_only_the_coupon_part(page, live_server, monkeypatch):
    _seed(monkeypatch)
    problems = _log_in(page, live_server.url, staff("marketing_manager", email="mkt-dash@staff.test").email)

    coupons = page.locator("#dashboard-coupons")
    expect(coupons).to_be_visible()
    expect(coupons).to_contain_text("주말 특가 쿠폰")
    expect(coupons).to_contain_text("발급 성공률")
    for section in SECTIONS[:-1]:
        expect(page.locator(f"#dashboard-{section}")).to_have_count(0)
    charts = _charts(page, "#dashboard")
    assert len(charts) == 1 and charts[0]["type"] == "line" and charts[0]["height"] > 100, charts
    assert "₩" not in page.locator("#dashboard").inner_text()  # no sales figure
    _shot(page, "marketing_manager")
    assert problems == []


def test_a_kr_cs_agent_sees_only_its_markets_orders_needing_attention(page, live_server, monkeypatch):
    seeded = _seed(monkeypatch)
    problems = _log_in(
        page, live_server.url, staff("cs_agent", market="KR", email="cs-kr-dash@staff.test").email
    )

    attention = page.locator("#dashboard-attention")
    expect(attention).to_be_visible()
    for section in ("sales", "payments", "latency", "low-stock", "outbox", "coupons"):
        expect(page.locator(f"#dashboard-{section}")).to_have_count(0)
    rows = page.locator("#dashboard-attention-orders tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(seeded["stale_kr"].number)
    expect(rows.first).to_contain_text("결제 후 미출고")
    expect(attention).not_to_contain_text(seeded["stale_us"].number)
    charts = _charts(page, "#dashboard-attention")
    assert len(charts) == 1 and charts[0]["type"] == "bar" and charts[0]["width"] > 100, charts
    # the order's link opens the order for the agent
    rows.first.get_by_role("link").click()
    page.wait_for_url(f"{live_server.url}/admin/orders/order/{seeded['stale_kr'].pk}/change/")
    _shot(page, "cs_agent_kr")
    assert problems == []
