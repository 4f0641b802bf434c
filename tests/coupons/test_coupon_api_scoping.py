"""The staff coupon API (/api/v1/admin/coupon-campaigns) is market-scoped like the admin
(tests/security/test_coupon_scoping.py): a KR-scoped member of staff lists and reads the
campaigns that run in KR; a US campaign is 404 like a missing one; a campaign that also runs
in the US, or a new one for the US, is 403 to change, move, revoke or create."""

from __future__ import annotations

import pytest

from apps.accounts import tokens
from apps.coupons.models import Campaign
from tests.accounts.factories import staff
from tests.coupons.factories import active_campaign

pytestmark = pytest.mark.django_db

ADMIN = "/api/v1/admin/coupon-campaigns"


def _bearer(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user)}"}


@pytest.fixture
def campaigns() -> dict[str, Campaign]:
    marketer = staff("marketing_manager")
    return {
        "kr": active_campaign(actor=marketer),
        "us": active_campaign(actor=marketer, markets=["US"], discount_value=500),
        "both": active_campaign(
            actor=marketer, markets=["KR", "US"], discount_type="percent", discount_value=10
        ),
    }


def _ids(api_client, user) -> set[int]:  # type: ignore[no-untyped-def]
    response = api_client.get(ADMIN, **_bearer(user))
    assert response.status_code == 200
    return {row["id"] for row in response.json()["results"]}


def test_the_list_is_scoped(api_client, campaigns):
    everyone = _ids(api_client, staff("cs_agent"))
    kr_only = _ids(api_client, staff("cs_agent", market="KR"))

    assert everyone == {c.pk for c in campaigns.values()}
    assert kr_only == {campaigns["kr"].pk, campaigns["both"].pk}


def test_another_markets_campaign_is_not_found(api_client, campaigns):
    headers = _bearer(staff("marketing_manager", market="KR"))
    us = campaigns["us"]

    answers = [
        api_client.get(f"{ADMIN}/{us.pk}", **headers),
        api_client.get(f"{ADMIN}/{us.pk}/stats", **headers),
        api_client.patch(f"{ADMIN}/{us.pk}", {"status": "paused"}, format="json", **headers),
        api_client.post(f"{ADMIN}/{us.pk}/revoke", {"reason": "test"}, format="json", **headers),
    ]

    assert [a.status_code for a in answers] == [404] * 4
    assert {a.json()["code"] for a in answers} == {"coupon.campaign_not_found"}
    us.refresh_from_db()
    assert us.status == "active"


def test_a_campaign_reaching_another_market_is_read_only(api_client, campaigns):
    headers = _bearer(staff("marketing_manager", market="KR"))
    both, kr = campaigns["both"], campaigns["kr"]

    read = api_client.get(f"{ADMIN}/{both.pk}", **headers)
    moved = api_client.patch(f"{ADMIN}/{both.pk}", {"status": "paused"}, format="json", **headers)
    revoked = api_client.post(f"{ADMIN}/{both.pk}/revoke", {"reason": "test"}, format="json", **headers)
    widened = api_client.patch(f"{ADMIN}/{kr.pk}", {"markets": ["KR", "US"]}, format="json", **headers)
    own = api_client.patch(f"{ADMIN}/{kr.pk}", {"status": "paused"}, format="json", **headers)

    assert read.status_code == 200
    assert (moved.status_code, revoked.status_code, widened.status_code) == (403, 403, 403)
    assert moved.json()["code"] == "auth.permission_denied"
    both.refresh_from_db()
    kr.refresh_from_db()
    assert both.status == "active"
    assert sorted(kr.markets.values_list("code", flat=True)) == ["KR"]
    assert own.status_code == 200 and kr.status == "paused"


def test_a_scoped_marketer_creates_campaigns_in_their_market_only(api_client):
    headers = _bearer(staff("marketing_manager", market="KR"))
    body = {
        "name_ko": "미국 쿠폰",
        "name_en": "US coupon",
        "discount_type": "fixed",
        "discount_value": 500,
        "markets": ["US"],
        "starts_at": "2026-03-02T00:00:00Z",
        "ends_at": "2026-03-09T00:00:00Z",
    }

    refused = api_client.post(ADMIN, body, format="json", **headers)
    created = api_client.post(
        ADMIN, {**body, "markets": ["KR"], "discount_value": 3000}, format="json", **headers
    )

    assert refused.status_code == 403
    assert created.status_code == 201
    assert list(Campaign.objects.values_list("name_en", flat=True)) == ["US coupon"]
