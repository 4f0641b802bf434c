"""The storefront coupon pages (issue 21, Deliver 7): the coupon zone (/coupons/, guests
included), claiming by form (POST-redirect-GET) and by the page's script (JSON), and my
coupons (/coupons/mine/), through the Django test client."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.test import Client

from apps.core import clock
from apps.coupons.models import Coupon
from tests.accounts.factories import MemberFactory, staff

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def _client(user=None, *, language: str = "ko", market: str = "KR") -> Client:
    client = Client()
    if user is not None:
        user.locale = language
        user.save(update_fields=["locale"])
        client.force_login(user)
    client.cookies["joopang_lang"] = language
    client.cookies["joopang_market"] = market
    return client


def _member(market: str = "KR"):
    return MemberFactory(
        email=f"coupons.{uuid.uuid4().hex[:8]}@example.test",
        locale="ko" if market == "KR" else "en",
        market_id=market,
    )


def _key(html: str, campaign_id: int) -> str:
    form = re.search(rf'action="/coupons/campaigns/{campaign_id}/claim".*?</form>', html, re.S)
    assert form, "the campaign has a claim form"
    match = re.search(r'name="request_key" value="([0-9a-f-]{36})"', form.group(0))
    assert match, "the claim form carries a request key"
    return match.group(1)


def _card(html: str, campaign_id: int) -> str:
    match = re.search(rf'<li class="coupon-card[^"]*" id="campaign-{campaign_id}".*?</li>', html, re.S)
    assert match, f"campaign {campaign_id} is on the page"
    return match.group(0)


def _issued(campaign) -> tuple[int, int]:
    campaign.refresh_from_db()
    return campaign.issued_count, Coupon.objects.filter(campaign=campaign).count()


# --- the coupon zone --------------------------------------------------------------------


def test_a_guest_sees_the_zone_with_log_in_to_claim_and_no_claim_form(campaign):
    # given: a percent campaign with a cap and a minimum, 100 coupons, 3 claimed
    c = campaign(
        name_ko="겨울 쿠폰",
        name_en="Winter coupon",
        discount_type="percent",
        discount_value=10,
        max_discount=5000,
        min_order_amount=30000,
        total_quantity=100,
    )
    type(c).objects.filter(pk=c.pk).update(issued_count=3)
    # when
    response = _client(language="en").get("/coupons/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    card = _card(html, c.pk)
    assert "Winter coupon" in card
    assert "10% off, up to ₩5,000" in card
    assert "Orders of ₩30,000 or more" in card
    assert "97 left" in card
    assert "Log in to claim" in card
    assert "/accounts/login/?next=/coupons/" in card
    assert "<form" not in card


def test_the_zone_shows_fixed_unlimited_and_not_started_campaigns_in_korean(campaign):
    # given: 3,000 won off, unlimited, starting tomorrow at 10:00 Seoul time
    starts = dt.datetime(2030, 1, 2, 1, 0, tzinfo=dt.UTC)  # 10:00 KST
    c = campaign(
        discount_value=3000,
        starts_at=starts,
        ends_at=starts + dt.timedelta(days=3),
    )
    member = _member()
    # when
    html = _client(member).get("/coupons/").content.decode()
    # then: the start time in the market's time zone, shown without JavaScript, and a disabled button
    card = _card(html, c.pk)
    assert "봄맞이 쿠폰" in card
    assert "₩3,000" in card
    assert 'datetime="2030-01-02T' in card
    assert "2030. 1. 2. 오전 10:00" in card
    assert re.search(r"<button[^>]*disabled[^>]*data-opens", card)


def test_the_zone_lists_only_campaigns_of_the_market(campaign):
    # given: a KR and a US campaign
    kr_campaign = campaign()
    us_campaign = campaign(name_en="US deal", markets=["US"], discount_value=500, currency="USD")
    # when
    html = _client(language="en", market="US").get("/coupons/").content.decode()
    # then
    assert f'id="campaign-{us_campaign.pk}"' in html
    assert f'id="campaign-{kr_campaign.pk}"' not in html
    assert "$5.00 off" in html


def test_a_guest_claim_is_sent_to_log_in_and_issues_nothing(campaign):
    # given
    c = campaign(total_quantity=10)
    # when
    response = _client().post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())})
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/coupons/"
    assert _issued(c) == (0, 0)


def test_a_staff_account_cannot_claim(campaign):
    # given
    c = campaign(total_quantity=10)
    client = _client(staff("cs_agent"), language="en")
    # when
    response = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())})
    # then
    assert response.status_code == 403
    assert _issued(c) == (0, 0)


# --- claiming by form -------------------------------------------------------------------


def test_a_member_claims_by_form_and_sees_a_message_and_the_claimed_button(campaign):
    # given
    c = campaign(total_quantity=10)
    member = _member()
    client = _client(member, language="en")
    key = _key(client.get("/coupons/").content.decode(), c.pk)
    # when
    response = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": key}, follow=True)
    # then
    assert response.redirect_chain == [("/coupons/", 302)]
    html = response.content.decode()
    assert "You claimed the coupon “Spring coupon”. It is in My coupons." in html
    card = _card(html, c.pk)
    assert "9 left" in card
    assert re.search(r"<button[^>]*disabled[^>]*>Claimed</button>", card)
    assert 'class="coupon-card is-claimed"' in card
    coupon = Coupon.objects.get()
    assert (coupon.user, coupon.campaign_id, coupon.status) == (member, c.pk, Coupon.Status.ISSUED)
    assert _issued(c) == (1, 1)


def test_the_same_form_sent_twice_is_one_claim(campaign):
    # given: a campaign allowing three coupons per member
    c = campaign(total_quantity=10, per_user_limit=3)
    client = _client(_member(), language="en")
    key = _key(client.get("/coupons/").content.decode(), c.pk)
    # when: a double click
    first = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": key}, **JSON)
    second = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": key}, **JSON)
    # then
    assert first.json()["coupon_id"] == second.json()["coupon_id"]
    assert _issued(c) == (1, 1)


def test_already_claimed_by_form_shows_the_message_and_changes_nothing(campaign):
    # given: the member holds the one coupon allowed
    c = campaign(total_quantity=10)
    client = _client(_member(), language="en")
    client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())})
    # when
    response = client.post(
        f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())}, follow=True
    )
    # then
    assert response.redirect_chain == [("/coupons/", 302)]
    assert (
        "You already have the most coupons of this campaign one member may claim (1)."
        in response.content.decode()
    )
    assert _issued(c) == (1, 1)


def test_sold_out_by_form_shows_the_message_and_changes_nothing(campaign):
    # given: one coupon, claimed by someone else
    c = campaign(total_quantity=1)
    _client(_member()).post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())})
    client = _client(_member(), language="en")
    # when
    response = client.post(
        f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())}, follow=True
    )
    # then
    html = response.content.decode()
    assert '<li class="message error">Every coupon of this campaign has been claimed.</li>' in html
    assert re.search(r"<button[^>]*disabled[^>]*>All claimed</button>", _card(html, c.pk))
    assert _issued(c) == (1, 1)


# --- claiming by script (JSON) ----------------------------------------------------------


def test_a_json_claim_answers_ok_remaining_and_message(campaign):
    # given
    c = campaign(total_quantity=5)
    member = _member()
    client = _client(member, language="en")
    # when
    response = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())}, **JSON)
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    coupon = Coupon.objects.get(user=member)
    assert body == {
        "ok": True,
        "message": "You claimed the coupon “Spring coupon”. It is in My coupons.",
        "coupon_id": str(coupon.public_id),
        "remaining": 4,
        "remaining_text": "4 left",
        "claimed": True,
        "request_key": body["request_key"],
    }
    assert uuid.UUID(body["request_key"])
    assert "no-store" in response["Cache-Control"]
    assert _issued(c) == (1, 1)


def test_a_json_claim_of_an_unlimited_campaign_allowing_two_keeps_the_button(campaign):
    # given
    c = campaign(per_user_limit=2)
    client = _client(_member(), language="en")
    # when
    body = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())}, **JSON).json()
    # then
    assert (body["ok"], body["remaining"], body["remaining_text"], body["claimed"]) == (
        True,
        None,
        "Unlimited",
        False,
    )


def test_a_json_sold_out_carries_the_code_the_message_and_zero_left(campaign):
    # given: one coupon, claimed by someone else
    c = campaign(total_quantity=1)
    _client(_member()).post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())})
    client = _client(_member(), language="en")
    # when
    response = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())}, **JSON)
    # then
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "code": "coupon.sold_out",
        "message": "Every coupon of this campaign has been claimed.",
        "remaining": 0,
        "remaining_text": "0 left",
    }
    assert _issued(c) == (1, 1)


def test_a_json_already_claimed_carries_the_code_and_the_message(campaign):
    # given
    c = campaign(total_quantity=5)
    client = _client(_member(), language="en")
    client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())}, **JSON)
    # when
    response = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())}, **JSON)
    # then
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "code": "coupon.already_claimed",
        "message": "You already have the most coupons of this campaign one member may claim (1).",
        "remaining": 4,
        "remaining_text": "4 left",
    }
    assert _issued(c) == (1, 1)


def test_a_json_claim_before_the_start_says_when_it_opens_in_market_time(campaign):
    # given: opening 2030-01-02 10:00 in Seoul
    starts = dt.datetime(2030, 1, 2, 1, 0, tzinfo=dt.UTC)
    c = campaign(starts_at=starts, ends_at=starts + dt.timedelta(days=1))
    client = _client(_member(), language="en")
    # when
    response = client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())}, **JSON)
    # then
    assert response.status_code == 409
    body = response.json()
    assert (body["ok"], body["code"]) == (False, "coupon.not_started")
    assert body["message"] == "Claiming opens at Jan 2, 2030, 10:00 AM KST."
    assert _issued(c) == (0, 0)


def test_a_json_claim_of_an_unknown_campaign_is_a_404_with_its_code(db):
    # given
    client = _client(_member(), language="en")
    # when
    response = client.post("/coupons/campaigns/999999/claim", {"request_key": "x"}, **JSON)
    # then
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "code": "coupon.campaign_not_found",
        "message": "There is no coupon campaign 999999.",
    }
    assert Coupon.objects.count() == 0


# --- my coupons ------------------------------------------------------------------------


def test_my_coupons_needs_log_in(db):
    response = _client().get("/coupons/mine/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/coupons/mine/"


def test_my_coupons_lists_them_grouped_ready_used_and_expired_or_revoked(campaign):
    # given: four claimed coupons: one ready, one used, one revoked, one past its expiry
    member = _member()
    client = _client(member, language="en")
    made = {}
    for name, kwargs in {
        "ready": {"discount_type": "percent", "discount_value": 10, "max_discount": 5000},
        "used": {"min_order_amount": 20000},
        "revoked": {},
        "past": {},
    }.items():
        c = campaign(name_en=f"{name} deal", name_ko=f"{name} 쿠폰", **kwargs)
        client.post(f"/coupons/campaigns/{c.pk}/claim", {"request_key": str(uuid.uuid4())})
        made[name] = Coupon.objects.get(campaign=c)
    Coupon.objects.filter(pk=made["used"].pk).update(status=Coupon.Status.USED, uses_left=0)
    Coupon.objects.filter(pk=made["revoked"].pk).update(status=Coupon.Status.REVOKED)
    Coupon.objects.filter(pk=made["past"].pk).update(expires_at=clock.now() - dt.timedelta(minutes=1))
    expires = dt.datetime(2030, 5, 1, 3, 30, tzinfo=dt.UTC)  # 12:30 KST
    Coupon.objects.filter(pk=made["ready"].pk).update(expires_at=expires)
    # when
    response = client.get("/coupons/mine/")
    # then
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    ready = re.search(r'id="coupons-ready".*?</section>', html, re.S).group(0)
    used = re.search(r'id="coupons-used".*?</section>', html, re.S).group(0)
    gone = re.search(r'id="coupons-gone".*?</section>', html, re.S).group(0)
    assert "ready deal" in ready and "10% off, up to ₩5,000" in ready
    assert "May 1, 2030, 12:30 PM" in ready  # market time (Seoul)
    assert re.search(r'class="coupon-uses">1<', ready)
    assert "used deal" in used and "Orders of ₩20,000 or more" in used
    assert re.search(r'class="coupon-uses">0<', used)
    assert 'class="coupon-status"' not in ready + used  # the group's title says it
    assert "revoked deal" in gone and "past deal" in gone
    # newest claim first: "past" was claimed after "revoked"
    assert re.findall(r'class="coupon-status">([^<]+)<', gone) == ["Expired", "Revoked"]
    assert "ready deal" not in used + gone


def test_my_coupons_when_there_are_none(db):
    html = _client(_member(), language="en").get("/coupons/mine/").content.decode()
    assert "You have no coupons yet." in html
