"""Coupons API end to end (API.md "Coupons"): the coupon zone, claims (with and without an
Idempotency-Key), my coupons, and the back office's campaigns, stats and revocations."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from apps.accounts import tokens
from apps.coupons import services
from apps.coupons.errors import MarketMismatch, SoldOut
from apps.coupons.models import Campaign, Coupon
from apps.markets.models import Market
from tests.accounts.factories import MemberFactory, staff
from tests.coupons.conftest import NOW

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/api/v1/coupons/campaigns"
COUPONS = "/api/v1/coupons"
ADMIN = "/api/v1/admin/coupon-campaigns"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
KO = {"HTTP_ACCEPT_LANGUAGE": "ko"}


def _bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user)}"}


def _claim_url(campaign_id: int) -> str:
    return f"{CAMPAIGNS}/{campaign_id}/claim"


def _admin_url(campaign_id: int, tail: str = "") -> str:
    return f"{ADMIN}/{campaign_id}{tail}"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _english(user):
    user.locale = "en"
    user.save(update_fields=["locale"])
    return user


def _won(amount: int) -> dict[str, object]:
    return {"amount": amount, "currency": "KRW", "display": f"₩{amount:,}"}


def _fields(body: dict) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in body["errors"]]


# --- GET /coupons/campaigns ------------------------------------------------------------------


def test_guests_see_the_running_campaigns_of_their_market_soonest_ending_first(api_client, campaign, frozen):
    week = campaign(total_quantity=100, name_ko="주간 쿠폰", name_en="Weekly coupon")
    soon = campaign(
        discount_type="percent",
        discount_value=10,
        max_discount=5000,
        min_order_amount=30000,
        ends_at=NOW + dt.timedelta(days=2),
        starts_at=NOW + dt.timedelta(hours=3),  # starting soon: listed for the countdown
    )
    campaign(status="draft")
    campaign(status="paused")
    campaign(status="ended")
    campaign(markets=["US"])

    response = api_client.get(CAMPAIGNS, **KO)

    assert response.status_code == 200
    display_ko = response.json()["results"][0]["discount"]["display"]
    assert display_ko in ("10% (최대 ₩5,000)", "10% (max ₩5,000)")
    assert response.json() == {
        "results": [
            {
                "id": soon.pk,
                "name": "봄맞이 쿠폰",
                "discount": {
                    "type": "percent",
                    "value": 10,
                    "max": _won(5000),
                    "display": display_ko,  # "10% (최대 ₩5,000)" once the translations are merged
                },
                "min_order_amount": _won(30000),
                "remaining": None,
                "starts_at": "2026-03-02T04:00:00Z",
                "valid_until": "2026-03-04T01:00:00Z",
                "per_user_limit": 1,
                "claimed_by_me": 0,
            },
            {
                "id": week.pk,
                "name": "주간 쿠폰",
                "discount": {"type": "fixed", "value": 1000, "max": None, "display": "₩1,000"},
                "min_order_amount": _won(0),
                "remaining": 100,
                "starts_at": "2026-03-02T00:00:00Z",
                "valid_until": "2026-03-09T01:00:00Z",
                "per_user_limit": 1,
                "claimed_by_me": 0,
            },
        ]
    }


def test_the_us_market_in_english_shows_dollars_and_the_cap(api_client, campaign, frozen):
    percent = campaign(
        markets=["US"],
        discount_type="percent",
        discount_value=15,
        max_discount=2500,
        min_order_amount=5000,
        name_en="Spring sale",
    )
    anywhere = campaign(markets=["KR", "US"], discount_type="percent", discount_value=5)
    campaign()  # KR only

    response = api_client.get(CAMPAIGNS, HTTP_X_MARKET="US", **EN)

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [percent.pk, anywhere.pk]
    first, second = response.json()["results"]
    assert first["name"] == "Spring sale"
    assert first["discount"] == {
        "type": "percent",
        "value": 15,
        "max": {"amount": 2500, "currency": "USD", "display": "$25.00"},
        "display": "15% (max $25.00)",
    }
    assert first["min_order_amount"] == {"amount": 5000, "currency": "USD", "display": "$50.00"}
    # A percent campaign without amounts runs in both markets and shows the request's currency.
    assert second["discount"] == {"type": "percent", "value": 5, "max": None, "display": "5%"}
    assert second["min_order_amount"] == {"amount": 0, "currency": "USD", "display": "$0.00"}


def test_a_member_sees_how_many_coupons_of_each_campaign_they_hold(api_client, campaign, frozen):
    twice = campaign(per_user_limit=2)
    once = campaign()
    member = MemberFactory()
    services.coupon_claim(campaign_id=twice.pk, user=member, market=twice.markets.get())
    services.coupon_claim(campaign_id=twice.pk, user=member, market=twice.markets.get())
    services.coupon_claim(campaign_id=once.pk, user=MemberFactory(), market=once.markets.get())

    response = api_client.get(CAMPAIGNS, **_bearer(member))

    assert {c["id"]: c["claimed_by_me"] for c in response.json()["results"]} == {twice.pk: 2, once.pk: 0}
    assert {c["id"]: c["remaining"] for c in response.json()["results"]} == {twice.pk: None, once.pk: None}


def test_the_campaign_list_takes_a_fixed_number_of_queries(
    api_client, campaign, frozen, django_assert_num_queries
):
    member = MemberFactory()
    headers = _bearer(member)
    api_client.get(CAMPAIGNS, **headers)  # warm the per-process market copy
    for _ in range(3):
        campaign(total_quantity=10)

    # guests: the campaigns
    with django_assert_num_queries(1):
        guest = api_client.get(CAMPAIGNS)
    # members: their user (token), the campaigns, their claims
    with django_assert_num_queries(3):
        mine = api_client.get(CAMPAIGNS, **headers)

    assert len(guest.json()["results"]) == len(mine.json()["results"]) == 3


# --- POST /coupons/campaigns/{id}/claim ------------------------------------------------------


def test_a_member_claims_a_coupon(api_client, campaign, frozen):
    limited = campaign(total_quantity=5, valid_days=3, uses_per_coupon=2, name_en="Five only")
    member = _english(MemberFactory())

    response = api_client.post(_claim_url(limited.pk), **_bearer(member))

    assert response.status_code == 201
    coupon = Coupon.objects.get()
    assert response.json() == {
        "id": str(coupon.public_id),
        "campaign": {"id": limited.pk, "name": "Five only"},
        "status": "issued",
        "uses_left": 2,
        "expires_at": "2026-03-05T01:00:00Z",
        "discount": {"type": "fixed", "value": 1000, "max": None, "display": "₩1,000"},
        "claimed_at": "2026-03-02T01:00:00Z",
    }
    assert (coupon.user, coupon.seq, coupon.idempotency_key) == (member, 1, None)
    assert uuid.UUID(response.json()["id"]).version == 4
    limited.refresh_from_db()
    assert limited.issued_count == 1


def test_a_claim_retried_with_the_same_key_returns_the_same_coupon(api_client, campaign, frozen):
    twice = campaign(per_user_limit=2, total_quantity=10)
    member = MemberFactory()
    headers = {**_bearer(member), "HTTP_IDEMPOTENCY_KEY": "claim-1"}

    first = api_client.post(_claim_url(twice.pk), **headers)
    again = api_client.post(_claim_url(twice.pk), **headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Coupon.objects.count() == 1
    twice.refresh_from_db()
    assert twice.issued_count == 1


def test_the_key_reaches_the_claim_so_a_lost_answer_still_gives_the_same_coupon(api_client, campaign, frozen):
    from apps.core.models import IdempotencyKey

    twice = campaign(per_user_limit=2)
    member = MemberFactory()
    headers = {**_bearer(member), "HTTP_IDEMPOTENCY_KEY": "claim-2"}
    first = api_client.post(_claim_url(twice.pk), **headers)
    IdempotencyKey.objects.all().delete()  # the stored answer is gone (purged)

    again = api_client.post(_claim_url(twice.pk), **headers)

    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert Coupon.objects.count() == 1


def test_a_new_key_claims_another_coupon_up_to_the_limit(api_client, campaign, frozen):
    twice = campaign(per_user_limit=2)
    member = MemberFactory()

    answers = [
        api_client.post(_claim_url(twice.pk), HTTP_IDEMPOTENCY_KEY=f"k{n}", **_bearer(member))
        for n in range(3)
    ]

    assert [a.status_code for a in answers] == [201, 201, 409]
    assert answers[2].json()["code"] == "coupon.already_claimed"
    assert len({a.json()["id"] for a in answers[:2]}) == 2


def _claim_refused(api_client, campaign_id: int, member, **headers):
    before = (
        Coupon.objects.count(),
        list(Campaign.objects.order_by("pk").values_list("issued_count", flat=True)),
    )
    response = api_client.post(_claim_url(campaign_id), **_bearer(member), **headers)
    after = (
        Coupon.objects.count(),
        list(Campaign.objects.order_by("pk").values_list("issued_count", flat=True)),
    )
    assert after == before
    return response


def test_a_sold_out_campaign_refuses_the_claim(api_client, campaign, frozen):
    one = campaign(total_quantity=1)
    services.coupon_claim(campaign_id=one.pk, user=MemberFactory(), market=one.markets.get())

    response = _claim_refused(api_client, one.pk, _english(MemberFactory()))

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:joopang:problem:coupon.sold_out",
        "title": "All claimed",
        "status": 409,
        "detail": "Every coupon of this campaign has been claimed.",
        "code": "coupon.sold_out",
        "instance": _claim_url(one.pk),
        "request_id": response.json()["request_id"],
    }


def test_a_second_claim_over_the_member_limit_is_refused(api_client, campaign, frozen):
    once = campaign()
    member = _english(MemberFactory())
    services.coupon_claim(campaign_id=once.pk, user=member, market=once.markets.get())

    response = _claim_refused(api_client, once.pk, member)

    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["title"], body["limit"]) == ("coupon.already_claimed", "Already claimed", 1)
    assert body["detail"] == ("You already have the most coupons of this campaign one member may claim (1).")


@pytest.mark.parametrize("state", ["paused", "ended", "draft"])
def test_a_campaign_not_running_refuses_the_claim(api_client, campaign, frozen, state):
    stopped = campaign(status=state)

    response = _claim_refused(api_client, stopped.pk, _english(MemberFactory()))

    assert response.status_code == 409
    assert (response.json()["code"], response.json()["detail"]) == (
        "coupon.campaign_inactive",
        "This campaign is not running now.",
    )


def test_a_campaign_not_started_refuses_the_claim_and_says_when_it_opens(api_client, campaign, frozen):
    later = campaign(starts_at=NOW + dt.timedelta(hours=2))

    response = _claim_refused(api_client, later.pk, _english(MemberFactory()))

    assert response.status_code == 409
    assert response.json()["code"] == "coupon.not_started"
    assert response.json()["detail"].startswith("Claiming opens at ")


def test_a_campaign_of_another_market_refuses_the_claim(api_client, campaign, frozen):
    korean = campaign()

    response = _claim_refused(api_client, korean.pk, _english(MemberFactory()), HTTP_X_MARKET="US")

    assert response.status_code == 403
    assert (response.json()["code"], response.json()["market"]) == ("coupon.market_mismatch", "US")
    assert response.json()["detail"] == "This campaign does not run in the US market."


def test_claiming_a_campaign_that_does_not_exist_is_404(api_client, frozen):
    response = _claim_refused(api_client, 999999, _english(MemberFactory()))

    assert response.status_code == 404
    assert (response.json()["code"], response.json()["campaign"]) == ("coupon.campaign_not_found", "999999")


def test_guests_must_log_in_and_staff_cannot_claim(api_client, campaign, frozen):
    running = campaign()

    guest = api_client.post(_claim_url(running.pk))
    marketer = api_client.post(_claim_url(running.pk), **_bearer(staff("marketing_manager")))

    assert (guest.status_code, guest.json()["code"]) == (401, "auth.login_required")
    assert (marketer.status_code, marketer.json()["code"]) == (403, "auth.permission_denied")
    assert Coupon.objects.count() == 0


# --- GET /coupons ----------------------------------------------------------------------------


def test_a_member_lists_their_coupons_newest_first_and_by_status(api_client, campaign, frozen, monkeypatch):
    from apps.core import clock

    first = campaign(name_en="First")
    second = campaign(name_en="Second", discount_type="percent", discount_value=20, max_discount=3000)
    member = _english(MemberFactory())
    older = services.coupon_claim(campaign_id=first.pk, user=member, market=first.markets.get())
    monkeypatch.setattr(clock, "now", lambda: NOW + dt.timedelta(minutes=5))
    newer = services.coupon_claim(campaign_id=second.pk, user=member, market=second.markets.get())
    services.coupon_claim(
        campaign_id=first.pk, user=MemberFactory(), market=first.markets.get()
    )  # not theirs
    services.coupons_revoke(
        campaign_id=first.pk, actor=staff("ops_admin"), reason="test", coupon_ids=[older.public_id]
    )

    everything = api_client.get(COUPONS, **_bearer(member))
    revoked = api_client.get(COUPONS, {"status": "revoked"}, **_bearer(member))

    assert everything.status_code == 200
    assert everything.json() == {
        "results": [
            {
                "id": str(newer.public_id),
                "campaign": {"id": second.pk, "name": "Second"},
                "status": "issued",
                "uses_left": 1,
                "expires_at": "2026-03-09T01:00:00Z",
                "discount": {
                    "type": "percent",
                    "value": 20,
                    "max": _won(3000),
                    "display": "20% (max ₩3,000)",
                },
                "claimed_at": "2026-03-02T01:05:00Z",
            },
            {
                "id": str(older.public_id),
                "campaign": {"id": first.pk, "name": "First"},
                "status": "revoked",
                "uses_left": 1,
                "expires_at": "2026-03-09T01:00:00Z",
                "discount": {"type": "fixed", "value": 1000, "max": None, "display": "₩1,000"},
                "claimed_at": "2026-03-02T01:00:00Z",
            },
        ],
        "next": None,
        "previous": None,
    }
    assert [c["id"] for c in revoked.json()["results"]] == [str(older.public_id)]


def test_my_coupons_are_cursor_paged_in_a_fixed_number_of_queries(
    api_client, campaign, frozen, django_assert_num_queries
):
    member = MemberFactory()
    for _ in range(3):
        running = campaign()
        services.coupon_claim(campaign_id=running.pk, user=member, market=running.markets.get())
    headers = _bearer(member)
    api_client.get(COUPONS, **headers)

    # the user (token) with the may-shop check, the page of coupons with their campaigns
    with django_assert_num_queries(2):
        page = api_client.get(COUPONS, {"limit": 2}, **headers)
    rest = api_client.get(page.json()["next"], **headers)

    assert len(page.json()["results"]) == 2
    assert len(rest.json()["results"]) == 1
    assert rest.json()["next"] is None


def test_an_unknown_status_filter_is_a_field_error(api_client):
    response = api_client.get(COUPONS, {"status": "lost"}, **_bearer(_english(MemberFactory())), **EN)

    assert response.status_code == 400
    assert response.json()["code"] == "request.invalid"
    assert response.json()["errors"] == [
        {"field": "status", "code": "invalid_choice", "message": '"lost" is not a valid choice.'}
    ]


def test_my_coupons_are_for_members_only(api_client):
    assert api_client.get(COUPONS).json()["code"] == "auth.login_required"
    assert api_client.get(COUPONS, **_bearer(staff("cs_agent"))).json()["code"] == "auth.permission_denied"


# --- /admin/coupon-campaigns -----------------------------------------------------------------


def _body(**overrides) -> dict[str, object]:
    """A valid create body: 3,000 won off in KR for a week from NOW."""
    body: dict[str, object] = {
        "name_ko": "신규 가입 쿠폰",
        "name_en": "Welcome coupon",
        "discount_type": "fixed",
        "discount_value": 3000,
        "min_order_amount": 20000,
        "markets": ["KR"],
        "total_quantity": 500,
        "per_user_limit": 1,
        "uses_per_coupon": 1,
        "starts_at": "2026-03-02T00:00:00Z",
        "ends_at": "2026-03-09T00:00:00+09:00",
        "valid_days": 7,
    }
    body.update(overrides)
    return body


def test_marketing_creates_a_campaign_in_draft(api_client, frozen):
    from tests.carts.factories import stocked

    marketer = _english(staff("marketing_manager"))
    included, _ = stocked()
    excluded, _ = stocked()

    response = api_client.post(
        ADMIN,
        _body(categories=[included.category_id], excluded_products=[excluded.pk]),
        format="json",
        **_bearer(marketer),
    )

    assert response.status_code == 201
    created = Campaign.objects.get()
    assert response.json() == {
        "id": created.pk,
        "name_ko": "신규 가입 쿠폰",
        "name_en": "Welcome coupon",
        "discount_type": "fixed",
        "discount_value": 3000,
        "max_discount": None,
        "min_order_amount": 20000,
        "currency": "KRW",
        "discount": {"type": "fixed", "value": 3000, "max": None, "display": "₩3,000"},
        "markets": ["KR"],
        "categories": [included.category_id],
        "products": [],
        "excluded_products": [excluded.pk],
        "total_quantity": 500,
        "issued": 0,
        "remaining": 500,
        "per_user_limit": 1,
        "uses_per_coupon": 1,
        "starts_at": "2026-03-02T00:00:00Z",
        "ends_at": "2026-03-08T15:00:00Z",
        "valid_days": 7,
        "status": "draft",
        "created_at": "2026-03-02T01:00:00Z",
        "updated_at": "2026-03-02T01:00:00Z",
    }
    assert created.created_by == marketer


def test_ops_creates_a_campaign_that_runs_at_once(api_client, frozen):
    response = api_client.post(ADMIN, _body(status="active"), format="json", **_bearer(staff("ops_admin")))

    assert response.status_code == 201
    assert response.json()["status"] == "active"
    assert Campaign.objects.get().status == "active"


def test_a_campaign_cannot_be_created_paused_and_nothing_is_written(api_client, frozen):
    response = api_client.post(
        ADMIN, _body(status="paused"), format="json", **_bearer(_english(staff("marketing_manager")))
    )

    assert response.status_code == 409
    assert response.json()["code"] == "coupon.campaign_transition_invalid"
    assert response.json()["detail"] == "A campaign cannot go from draft to paused."
    assert Campaign.objects.count() == 0


def test_every_invalid_field_is_reported_with_its_code(api_client, frozen):
    body = _body(
        name_ko="",
        discount_type="percent",
        discount_value=150,
        max_discount=0,
        markets=["KR", "XX"],
        products=[999999],
        per_user_limit=0,
        starts_at="2026-03-09T00:00:00Z",
        ends_at="2026-03-02T00:00:00Z",
        status="later",
    )
    korean = api_client.post(ADMIN, body, format="json", **_bearer(staff("marketing_manager")), **KO)
    english = api_client.post(ADMIN, body, format="json", **_bearer(_english(staff("ops_admin"))), **EN)

    assert korean.status_code == english.status_code == 400
    assert korean.json()["errors"][0]["message"] == '"later"은 유효하지 않은 선택입니다.'
    assert (korean["Content-Language"], english["Content-Language"]) == ("ko", "en")
    assert korean.json()["code"] == english.json()["code"] == "coupon.campaign_invalid"
    assert (
        _fields(korean.json())
        == _fields(english.json())
        == [
            ("status", "invalid"),
            ("name_ko", "invalid"),
            ("discount_value", "invalid"),
            ("max_discount", "invalid"),
            ("per_user_limit", "invalid"),
            ("ends_at", "invalid"),
            ("markets", "invalid"),
            ("products", "not_found"),
        ]
    )
    assert english.json()["errors"] == [
        {"field": "status", "code": "invalid", "message": '"later" is not a valid choice.'},
        {"field": "name_ko", "code": "invalid", "message": "Give a name of 1 to 120 characters."},
        {"field": "discount_value", "code": "invalid", "message": "Enter a whole number from 1 to 100."},
        {
            "field": "max_discount",
            "code": "invalid",
            "message": "Enter a whole number from 1 to 1000000000000.",
        },
        {"field": "per_user_limit", "code": "invalid", "message": "Enter a whole number from 1 to 100."},
        {"field": "ends_at", "code": "invalid", "message": "The campaign must end after it starts."},
        {"field": "markets", "code": "invalid", "message": "Choose at least one market."},
        {"field": "products", "code": "not_found", "message": "Some of these do not exist."},
    ]
    assert english.json()["detail"] == "Some campaign fields are missing or invalid. See errors for details."
    assert Campaign.objects.count() == 0


def test_a_staff_member_with_an_english_profile_reads_english_messages(api_client, frozen):
    marketer = _english(staff("marketing_manager"))

    response = api_client.post(
        ADMIN, _body(discount_type="fixed", max_discount=500, markets=[]), format="json", **_bearer(marketer)
    )

    assert response.status_code == 400
    assert response["Content-Language"] == "en"
    assert response.json()["errors"] == [
        {"field": "max_discount", "code": "invalid", "message": "A cap applies to percent discounts only."},
        {"field": "markets", "code": "invalid", "message": "Choose at least one market."},
    ]


def test_an_unreadable_date_is_an_error_of_its_field(api_client, frozen):
    response = api_client.post(
        ADMIN, _body(starts_at="next monday"), format="json", **_bearer(_english(staff("ops_admin")))
    )

    assert response.status_code == 400
    assert response.json()["code"] == "coupon.campaign_invalid"
    assert _fields(response.json()) == [("starts_at", "invalid")]
    assert response.json()["errors"][0]["message"].startswith("Datetime has wrong format.")
    assert Campaign.objects.count() == 0


def test_amounts_in_two_currencies_are_refused(api_client, frozen):
    response = api_client.post(
        ADMIN, _body(markets=["KR", "US"]), format="json", **_bearer(_english(staff("ops_admin")))
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "markets",
            "code": "one_currency",
            "message": "A campaign with amounts (a fixed discount, a cap or a minimum) runs in one market.",
        }
    ]


def test_the_back_office_lists_campaigns_newest_first_by_status(
    api_client, campaign, frozen, django_assert_num_queries
):
    older = campaign()
    draft = campaign(status="draft", markets=["US"], discount_type="percent", discount_value=5)
    newest = campaign()
    headers = _bearer(staff("cs_agent"))
    api_client.get(ADMIN, **headers)

    # the user, its permissions (2), its market scope, the page, markets, categories, products,
    # excluded products
    with django_assert_num_queries(9):
        everything = api_client.get(ADMIN, **headers)
    drafts = api_client.get(ADMIN, {"status": "draft"}, **headers)
    paged = api_client.get(ADMIN, {"limit": 2}, **headers)

    assert everything.status_code == 200
    assert [c["id"] for c in everything.json()["results"]] == [newest.pk, draft.pk, older.pk]
    assert [c["id"] for c in drafts.json()["results"]] == [draft.pk]
    assert drafts.json()["results"][0]["markets"] == ["US"]
    assert [c["id"] for c in paged.json()["results"]] == [newest.pk, draft.pk]
    assert paged.json()["next"] is not None
    bad = api_client.get(ADMIN, {"status": "gone"}, **headers)
    assert (bad.status_code, _fields(bad.json())) == (400, [("status", "invalid_choice")])


def test_the_back_office_reads_one_campaign(api_client, campaign, frozen):
    running = campaign(total_quantity=3)
    services.coupon_claim(campaign_id=running.pk, user=MemberFactory(), market=running.markets.get())

    cs = _bearer(_english(staff("cs_agent")))
    response = api_client.get(_admin_url(running.pk), **cs)
    missing = api_client.get(_admin_url(999999), **cs)

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["issued"], response.json()["remaining"]) == (
        running.pk,
        1,
        2,
    )
    assert response.json()["status"] == "active"
    assert (missing.status_code, missing.json()["code"]) == (404, "coupon.campaign_not_found")
    assert missing.json()["detail"] == "There is no coupon campaign 999999."


def test_patch_changes_only_the_fields_sent(api_client, campaign, frozen):
    running = campaign(total_quantity=100, categories=[])
    before = api_client.get(_admin_url(running.pk), **_bearer(staff("ops_admin"))).json()

    response = api_client.patch(
        _admin_url(running.pk),
        {"name_en": "Spring coupon, extended", "ends_at": "2026-03-20T00:00:00Z", "total_quantity": 200},
        format="json",
        **_bearer(staff("marketing_manager")),
    )

    assert response.status_code == 200
    after = response.json()
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"name_en", "ends_at", "total_quantity", "remaining"}
    assert (after["name_en"], after["ends_at"], after["total_quantity"]) == (
        "Spring coupon, extended",
        "2026-03-20T00:00:00Z",
        200,
    )
    running.refresh_from_db()
    assert running.total_quantity == 200


def test_patch_status_moves_the_campaign(api_client, campaign, frozen):
    running = campaign()
    marketer = staff("marketing_manager")

    paused = api_client.patch(
        _admin_url(running.pk), {"status": "paused"}, format="json", **_bearer(marketer)
    )
    resumed = api_client.patch(
        _admin_url(running.pk), {"status": "active"}, format="json", **_bearer(marketer)
    )
    ended = api_client.patch(_admin_url(running.pk), {"status": "ended"}, format="json", **_bearer(marketer))

    assert [r.json()["status"] for r in (paused, resumed, ended)] == ["paused", "active", "ended"]
    running.refresh_from_db()
    assert running.status == "ended"


def test_an_illegal_transition_is_refused_and_nothing_changes(api_client, campaign, frozen):
    over = campaign(status="ended")

    response = api_client.patch(
        _admin_url(over.pk),
        {"status": "active", "name_en": "Again"},
        format="json",
        **_bearer(_english(staff("ops_admin"))),
    )

    assert response.status_code == 409
    assert response.json() == {
        "type": "urn:joopang:problem:coupon.campaign_transition_invalid",
        "title": "Not allowed in this status",
        "status": 409,
        "detail": "A campaign cannot go from ended to active.",
        "code": "coupon.campaign_transition_invalid",
        "instance": _admin_url(over.pk),
        "from_status": "ended",
        "to_status": "active",
        "request_id": response.json()["request_id"],
    }
    over.refresh_from_db()
    assert (over.status, over.name_en) == ("ended", "Spring coupon")


def test_a_running_campaign_cannot_shrink_below_what_it_issued(api_client, campaign, frozen):
    running = campaign(total_quantity=5)
    for _ in range(2):
        services.coupon_claim(campaign_id=running.pk, user=MemberFactory(), market=running.markets.get())

    response = api_client.patch(
        _admin_url(running.pk), {"total_quantity": 1}, format="json", **_bearer(_english(staff("ops_admin")))
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "total_quantity", "code": "below_issued", "message": "2 coupons are already issued."}
    ]
    running.refresh_from_db()
    assert running.total_quantity == 5


def test_put_replaces_the_campaign_and_needs_every_required_field(api_client, campaign, frozen):
    running = campaign(total_quantity=100, per_user_limit=3)
    ops = staff("ops_admin")

    replaced = api_client.put(
        _admin_url(running.pk), _body(total_quantity=None), format="json", **_bearer(ops)
    )
    partial = api_client.put(
        _admin_url(running.pk), {"name_en": "Only a name"}, format="json", **_bearer(ops)
    )

    assert replaced.status_code == 200
    assert (
        replaced.json()["name_en"],
        replaced.json()["total_quantity"],
        replaced.json()["per_user_limit"],
    ) == (
        "Welcome coupon",
        None,
        1,
    )
    assert replaced.json()["status"] == "active"
    assert partial.status_code == 400
    assert _fields(partial.json()) == [
        ("name_ko", "invalid"),
        ("discount_type", "invalid"),
        ("discount_value", "invalid"),
        ("ends_at", "invalid"),
        ("markets", "invalid"),
    ]
    running.refresh_from_db()
    assert running.name_en == "Welcome coupon"


def test_a_campaign_is_never_deleted(api_client, campaign, frozen):
    running = campaign()

    response = api_client.delete(_admin_url(running.pk), **_bearer(staff("ops_admin")))

    assert response.status_code == 405
    assert response.json()["code"] == "request.method_not_allowed"
    assert Campaign.objects.filter(pk=running.pk).exists()


# --- stats and revocation --------------------------------------------------------------------


def test_stats_count_claims_uses_refusals_and_revocations(api_client, campaign, frozen):
    three = campaign(total_quantity=3)
    market = three.markets.get()
    members = [MemberFactory() for _ in range(3)]
    coupons = [services.coupon_claim(campaign_id=three.pk, user=m, market=market) for m in members]
    Coupon.objects.filter(pk=coupons[0].pk).update(status="used", used_at=NOW, uses_left=0)
    services.coupons_revoke(
        campaign_id=three.pk, actor=staff("ops_admin"), reason="fraud", coupon_ids=[coupons[1].public_id]
    )
    for _ in range(2):
        with pytest.raises(SoldOut):
            services.coupon_claim(campaign_id=three.pk, user=MemberFactory(), market=market)
    with pytest.raises(MarketMismatch):
        services.coupon_claim(
            campaign_id=three.pk, user=MemberFactory(), market=Market.objects.get(code="US")
        )

    response = api_client.get(_admin_url(three.pk, "/stats"), **_bearer(staff("marketing_manager")))

    assert response.status_code == 200
    assert response.json() == {
        "total": 3,
        "issued": 3,
        "remaining": 0,
        "used": 1,
        "usage_rate": 0.3333,
        "claims_rejected": {"coupon.market_mismatch": 1, "coupon.sold_out": 2},
        "revoked": 1,
    }


def test_stats_of_an_unlimited_campaign_before_any_claim(api_client, campaign, frozen):
    open_ended = campaign()

    response = api_client.get(_admin_url(open_ended.pk, "/stats"), **_bearer(staff("cs_agent")))
    missing = api_client.get(_admin_url(999999, "/stats"), **_bearer(staff("cs_agent")))

    assert response.json() == {
        "total": None,
        "issued": 0,
        "remaining": None,
        "used": 0,
        "usage_rate": 0.0,
        "claims_rejected": {},
        "revoked": 0,
    }
    assert (missing.status_code, missing.json()["code"]) == (404, "coupon.campaign_not_found")


def test_marketing_revokes_chosen_coupons(api_client, campaign, frozen):
    running = campaign()
    market = running.markets.get()
    kept, taken = (
        services.coupon_claim(campaign_id=running.pk, user=MemberFactory(), market=market) for _ in range(2)
    )
    marketer = staff("marketing_manager")

    response = api_client.post(
        _admin_url(running.pk, "/revoke"),
        {"coupon_ids": [str(taken.public_id)], "reason": "issued by mistake"},
        format="json",
        **_bearer(marketer),
    )

    assert (response.status_code, response.json()) == (200, {"revoked": 1})
    taken.refresh_from_db()
    kept.refresh_from_db()
    assert (taken.status, taken.revoked_by, taken.revoke_reason) == ("revoked", marketer, "issued by mistake")
    assert kept.status == "issued"


def test_revoking_without_ids_takes_back_every_unused_coupon(api_client, campaign, frozen):
    running = campaign()
    market = running.markets.get()
    coupons = [
        services.coupon_claim(campaign_id=running.pk, user=MemberFactory(), market=market) for _ in range(3)
    ]
    Coupon.objects.filter(pk=coupons[0].pk).update(status="used", used_at=NOW, uses_left=0)
    ops = staff("ops_admin")

    first = api_client.post(
        _admin_url(running.pk, "/revoke"), {"reason": "campaign withdrawn"}, format="json", **_bearer(ops)
    )
    again = api_client.post(
        _admin_url(running.pk, "/revoke"), {"reason": "campaign withdrawn"}, format="json", **_bearer(ops)
    )

    assert (first.json(), again.json()) == ({"revoked": 2}, {"revoked": 0})
    assert sorted(Coupon.objects.values_list("status", flat=True)) == ["revoked", "revoked", "used"]


def test_a_revocation_needs_a_reason_and_a_campaign(api_client, campaign, frozen):
    running = campaign()
    coupon = services.coupon_claim(campaign_id=running.pk, user=MemberFactory(), market=running.markets.get())
    ops = _english(staff("ops_admin"))

    no_reason = api_client.post(
        _admin_url(running.pk, "/revoke"), {"coupon_ids": ["nope"]}, format="json", **_bearer(ops)
    )
    missing = api_client.post(_admin_url(999999, "/revoke"), {"reason": "x"}, format="json", **_bearer(ops))

    assert no_reason.status_code == 400
    assert no_reason.json()["code"] == "request.invalid"
    assert no_reason.json()["errors"] == [
        {"field": "coupon_ids.0", "code": "invalid", "message": "Must be a valid UUID."},
        {"field": "reason", "code": "required", "message": "This field is required."},
    ]
    assert (missing.status_code, missing.json()["code"]) == (404, "coupon.campaign_not_found")
    coupon.refresh_from_db()
    assert coupon.status == "issued"


# --- who may do what -------------------------------------------------------------------------


def test_customer_service_reads_but_does_not_write(api_client, campaign, frozen):
    running = campaign()
    coupon = services.coupon_claim(campaign_id=running.pk, user=MemberFactory(), market=running.markets.get())
    cs = _bearer(staff("cs_agent"))

    reads = [
        api_client.get(ADMIN, **cs),
        api_client.get(_admin_url(running.pk), **cs),
        api_client.get(_admin_url(running.pk, "/stats"), **cs),
    ]
    writes = [
        api_client.post(ADMIN, _body(), format="json", **cs),
        api_client.patch(_admin_url(running.pk), {"status": "paused"}, format="json", **cs),
        api_client.put(_admin_url(running.pk), _body(), format="json", **cs),
        api_client.post(_admin_url(running.pk, "/revoke"), {"reason": "x"}, format="json", **cs),
    ]

    assert [r.status_code for r in reads] == [200, 200, 200]
    assert [(r.status_code, r.json()["code"]) for r in writes] == [(403, "auth.permission_denied")] * 4
    running.refresh_from_db()
    coupon.refresh_from_db()
    assert (Campaign.objects.count(), running.status, running.name_en, coupon.status) == (
        1,
        "active",
        "Spring coupon",
        "issued",
    )


@pytest.mark.parametrize("who", ["inventory_manager", "member", "guest"])
def test_others_cannot_open_the_back_office(api_client, campaign, frozen, who):
    running = campaign()
    if who == "guest":
        headers, expected = {}, (401, "auth.login_required")
    else:
        user = MemberFactory() if who == "member" else staff(who)
        headers, expected = _bearer(user), (403, "auth.permission_denied")

    answers = [
        api_client.get(ADMIN, **headers),
        api_client.get(_admin_url(running.pk), **headers),
        api_client.get(_admin_url(running.pk, "/stats"), **headers),
        api_client.post(ADMIN, _body(), format="json", **headers),
        api_client.patch(_admin_url(running.pk), {"status": "ended"}, format="json", **headers),
        api_client.post(_admin_url(running.pk, "/revoke"), {"reason": "x"}, format="json", **headers),
    ]

    assert {(r.status_code, r.json()["code"]) for r in answers} == {expected}
    running.refresh_from_db()
    assert (Campaign.objects.count(), running.status) == (1, "active")
