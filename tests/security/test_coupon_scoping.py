"""Coupons in the back office are market-scoped like orders and wallets: a member of staff
scoped to KR sees the campaigns that run in KR and the coupons (and usage) of such a
campaign held by KR members, in the lists, the pages, the filters' choices and the CSV/XLSX
exports; anything else is 404. A campaign that also runs in the US is read-only to a
KR-scoped marketer. Unscoped staff see everything (the contrast that makes each check
mean something). Also: every admin route is registered once (the stock actions were
registered twice, as row and as change-page actions)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections import Counter
from typing import Any

import pytest
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from apps.coupons.models import Campaign, Coupon, CouponUse
from tests.accounts.factories import MemberFactory, staff
from tests.coupons.factories import active_campaign, campaign_data

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/admin/coupons/campaign/"
COUPONS = "/admin/coupons/coupon/"
USES = "/admin/coupons/couponuse/"


def _coupon(campaign: Campaign, market: str, email: str) -> Coupon:
    now = timezone.now()
    coupon = Coupon.objects.create(
        campaign=campaign,
        user=MemberFactory(market_id=market, email=email),
        seq=1,
        status="issued",
        uses_left=1,
        expires_at=now + dt.timedelta(days=7),
        claimed_at=now,
    )
    CouponUse.objects.create(
        coupon=coupon,
        owner=f"order:{email}",
        order_number=f"{market}-{email.split('@')[0]}",
        discount=100,
        currency="KRW" if market == "KR" else "USD",
        status="held",
        created_at=now,
        updated_at=now,
    )
    return coupon


@pytest.fixture
def world() -> dict[str, Any]:
    marketer = staff("marketing_manager")
    kr = active_campaign(actor=marketer, name_ko="한국 전용", name_en="Korea only")
    us = active_campaign(
        actor=marketer,
        markets=["US"],
        discount_value=500,
        name_ko="미국 전용 쿠폰",
        name_en="Zeta US only",
    )
    both = active_campaign(
        actor=marketer,
        markets=["KR", "US"],
        discount_type="percent",
        discount_value=10,
        name_ko="두 시장",
        name_en="Both markets",
    )
    return {
        "kr": kr,
        "us": us,
        "both": both,
        "kr_coupon": _coupon(kr, "KR", "kr.member@shop.test"),
        "us_coupon": _coupon(us, "US", "us.member@shop.test"),
        "both_kr_coupon": _coupon(both, "KR", "both.kr@shop.test"),
        "both_us_coupon": _coupon(both, "US", "both.us@shop.test"),
    }


def _listed(client, url: str, query: str = "") -> list[Any]:  # type: ignore[no-untyped-def]
    response = client.get(f"{url}?{query}")
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def _csv(client, url: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    response = client.post(f"{url}export/", {"format": "0", "resource": "0"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8").lstrip("\ufeff"))))


def _emails(rows: list[list[str]]) -> set[str]:
    return {cell for row in rows[1:] for cell in row if "@" in cell}


# --- Lists and exports --------------------------------------------------------------------
def test_unscoped_staff_see_every_market(client, world):
    client.force_login(staff("cs_agent"))

    assert {c.pk for c in _listed(client, CAMPAIGNS)} == {world["kr"].pk, world["us"].pk, world["both"].pk}
    assert len(_listed(client, COUPONS)) == 4
    assert len(_listed(client, USES)) == 4
    assert _emails(_csv(client, COUPONS)) == {
        "kr.member@shop.test",
        "us.member@shop.test",
        "both.kr@shop.test",
        "both.us@shop.test",
    }


def test_a_kr_scoped_agent_lists_only_kr_campaigns_coupons_and_usage(client, world):
    client.force_login(staff("cs_agent", market="KR"))

    campaigns = _listed(client, CAMPAIGNS)
    coupons = _listed(client, COUPONS)
    uses = _listed(client, USES)
    searched = _listed(client, COUPONS, "q=us.member%40shop.test")
    filtered = _listed(client, COUPONS, f"campaign__id__exact={world['us'].pk}")

    assert {c.pk for c in campaigns} == {world["kr"].pk, world["both"].pk}
    assert len(campaigns) == 2  # the two-market campaign once, not once per market
    assert {c.pk for c in coupons} == {world["kr_coupon"].pk, world["both_kr_coupon"].pk}
    assert {u.coupon_id for u in uses} == {world["kr_coupon"].pk, world["both_kr_coupon"].pk}
    assert searched == [] and filtered == []


def test_the_campaign_filter_offers_only_campaigns_in_scope(client, world):
    client.force_login(staff("cs_agent", market="KR"))

    for url in (COUPONS, f"{COUPONS}?campaign__id__exact={world['kr'].pk}"):
        page = html.unescape(client.get(url).content.decode())
        assert "Zeta US only" not in page and "미국 전용 쿠폰" not in page
        assert "Korea only" in page or "한국 전용" in page
    client.force_login(staff("cs_agent"))
    page = html.unescape(client.get(COUPONS).content.decode())
    assert "Zeta US only" in page or "미국 전용 쿠폰" in page


def test_a_kr_scoped_agent_exports_only_kr_coupons_and_usage(client, world):
    client.force_login(staff("cs_agent", market="KR"))

    coupons = _csv(client, COUPONS)
    uses = _csv(client, USES)
    sheet = client.post(f"{COUPONS}export/", {"format": "1", "resource": "0"})

    assert _emails(coupons) == {"kr.member@shop.test", "both.kr@shop.test"}
    assert len(coupons) == 1 + 2
    assert _emails(uses) == {"kr.member@shop.test", "both.kr@shop.test"}
    assert len(uses) == 1 + 2
    assert {row[4] for row in uses[1:]} == {"KR-kr.member", "KR-both.kr"}  # the order numbers
    assert sheet.status_code == 200
    assert b"us.member" not in sheet.content and b"both.us" not in sheet.content


# --- Pages ----------------------------------------------------------------------------------
def test_a_kr_scoped_agent_gets_404_for_another_markets_rows(client, world):
    client.force_login(staff("cs_agent", market="KR"))
    use_of = {key: CouponUse.objects.get(coupon=world[key]).pk for key in ("us_coupon", "both_us_coupon")}

    refused = {
        f"{CAMPAIGNS}{world['us'].pk}/change/",
        f"{CAMPAIGNS}{world['us'].pk}/history/",
        f"{CAMPAIGNS}{world['us'].pk}/revoke/",
        f"{CAMPAIGNS}{world['us'].pk}/transition/",
        f"{COUPONS}{world['us_coupon'].pk}/change/",
        f"{COUPONS}{world['both_us_coupon'].pk}/change/",
        f"{USES}{use_of['us_coupon']}/change/",
        f"{USES}{use_of['both_us_coupon']}/change/",
    }
    allowed = {
        f"{CAMPAIGNS}{world['kr'].pk}/change/",
        f"{CAMPAIGNS}{world['both'].pk}/change/",
        f"{COUPONS}{world['kr_coupon'].pk}/change/",
        f"{USES}{CouponUse.objects.get(coupon=world['both_kr_coupon']).pk}/change/",
    }

    assert {url: client.get(url).status_code for url in refused} == dict.fromkeys(refused, 404)
    assert {url: client.get(url).status_code for url in allowed} == dict.fromkeys(allowed, 200)
    missing = f"{COUPONS}999999/change/"
    assert client.get(missing).status_code == 404  # the same answer as a row that does not exist


def _state(campaign: Campaign) -> tuple[str, list[str]]:
    campaign.refresh_from_db()
    statuses = sorted(Coupon.objects.filter(campaign=campaign).values_list("status", flat=True))
    return campaign.status, statuses


def test_a_kr_scoped_marketer_changes_kr_campaigns_only(client, world):
    client.force_login(staff("marketing_manager", market="KR"))
    before = {key: _state(world[key]) for key in ("us", "both")}

    # the US campaign: not found; the KR+US one: readable, but no edit, move or revoke
    us_moved = client.post(f"{CAMPAIGNS}{world['us'].pk}/transition/", {"to_status": "paused"})
    both_page = client.get(f"{CAMPAIGNS}{world['both'].pk}/change/")
    both_moved = client.post(f"{CAMPAIGNS}{world['both'].pk}/transition/", {"to_status": "paused"})
    both_revoked = client.post(f"{CAMPAIGNS}{world['both'].pk}/revoke/", {"reason": "test", "confirm": "on"})
    both_edited = client.post(
        f"{CAMPAIGNS}{world['both'].pk}/change/", {"name_ko": "바뀜", "name_en": "Changed"}
    )
    kr_moved = client.post(f"{CAMPAIGNS}{world['kr'].pk}/transition/", {"to_status": "paused"})

    assert us_moved.status_code == 404
    assert both_page.status_code == 200
    assert both_page.context["transitions"] == [] and both_page.context["revoke_form"] is None
    assert 'name="_save"' not in both_page.content.decode()
    assert (both_moved.status_code, both_revoked.status_code, both_edited.status_code) == (403, 403, 403)
    assert {key: _state(world[key]) for key in ("us", "both")} == before
    assert kr_moved.status_code == 302
    assert _state(world["kr"])[0] == "paused"  # in scope: the move went through


def test_a_kr_scoped_marketer_creates_campaigns_in_kr_only(client, world):
    client.force_login(staff("marketing_manager", market="KR"))

    form = client.get(f"{CAMPAIGNS}add/").context["adminform"].form
    offered = [code for code, _label in form.fields["markets"].choices]
    data = {
        **{k: v for k, v in campaign_data().items() if k not in ("starts_at", "ends_at", "markets")},
        "markets": ["US"],
        "starts_at_0": "2026-12-01",
        "starts_at_1": "09:00:00",
        "ends_at_0": "2026-12-08",
        "ends_at_1": "09:00:00",
        "per_user_limit": "1",
        "uses_per_coupon": "1",
    }
    count = Campaign.objects.count()
    refused = client.post(f"{CAMPAIGNS}add/", data)

    assert [str(code) for code in offered] == ["KR"]
    assert refused.status_code == 200 and "markets" in refused.context["adminform"].form.errors
    assert Campaign.objects.count() == count


# --- Routes ---------------------------------------------------------------------------------
def _routes(resolver: URLResolver, prefix: str = "") -> Counter[tuple[str, str | None]]:
    found: Counter[tuple[str, str | None]] = Counter()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            found += _routes(pattern, prefix + str(pattern.pattern))
        else:
            found[(prefix + str(pattern.pattern), pattern.name)] += 1
    return found


def test_every_route_is_registered_once():
    routes = _routes(get_resolver())

    assert sorted(route for route, count in routes.items() if count > 1) == []
    for action in ("receive", "correct", "transfer"):  # row and change-page buttons share it
        assert (
            routes[
                (
                    f"admin/inventory/stocklevel/<path:object_id>/{action}/",
                    f"inventory_stocklevel_{action}_stock_row",
                )
            ]
            == 1
        )
