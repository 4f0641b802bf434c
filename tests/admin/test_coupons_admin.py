"""Coupons in the back office (issue 21, items 1 and 5) through Django's test client:
campaigns created and edited through the form that runs services.campaign_clean (its
per-field errors on the form's fields, nothing created when refused) and saves through the
services; the status moves legal from a campaign's status; live stats on its page; revoke
(회수) of every unused coupon or of selected ones; read-only coupons and usage history;
roles (inventory sees nothing, customer service reads); pinned list query counts."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.coupons import metrics, services
from apps.coupons.errors import CampaignInvalid, CampaignTransitionInvalid
from apps.coupons.models import Campaign, Coupon, CouponUse
from apps.markets.models import Market
from tests.accounts.factories import MemberFactory, staff
from tests.carts.factories import stocked
from tests.coupons.factories import active_campaign, campaign_data

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/admin/coupons/campaign/"
COUPONS = "/admin/coupons/coupon/"
USES = "/admin/coupons/couponuse/"
KST = dt.timezone(dt.timedelta(hours=9))


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.content.decode())


def _language(response) -> str:  # type: ignore[no-untyped-def]
    return response["Content-Language"]


def _service_errors(data: dict[str, Any], language: str) -> dict[str, list[str]]:
    """What services.campaign_clean says about ``data``, by field, in ``language``."""
    with translation.override(language):
        try:
            services.campaign_clean(data)
        except CampaignInvalid as exc:
            found: dict[str, list[str]] = {}
            for error in exc.params["errors"]:
                found.setdefault(error["field"], []).append(error["message"])
            return found
    return {}


def _form(**overrides: Any) -> dict[str, Any]:
    """The add form as a browser posts it: 3,000 won off in KR, 100 coupons, a week from
    2026-12-01 09:00 KST (the admin shows and reads times in the KR market's zone)."""
    data: dict[str, Any] = {
        "name_ko": "겨울 쿠폰",
        "name_en": "Winter coupon",
        "discount_type": "fixed",
        "discount_value": "3000",
        "max_discount": "",
        "min_order_amount": "20000",
        "markets": ["KR"],
        "total_quantity": "100",
        "per_user_limit": "1",
        "uses_per_coupon": "1",
        "valid_days": "",
        "starts_at_0": "2026-12-01",
        "starts_at_1": "09:00:00",
        "ends_at_0": "2026-12-08",
        "ends_at_1": "09:00:00",
    }
    data.update(overrides)
    return data


def _snapshot(campaign: Campaign) -> tuple[Any, ...]:
    campaign.refresh_from_db()
    return (
        campaign.name_ko,
        campaign.name_en,
        campaign.discount_value,
        campaign.total_quantity,
        campaign.status,
        campaign.updated_at,
        sorted(campaign.markets.values_list("code", flat=True)),
    )


def _claimed(campaign: Campaign, count: int) -> list[Coupon]:
    kr = Market.objects.get(code="KR")
    return [
        services.coupon_claim(campaign_id=campaign.pk, user=MemberFactory(market_id="KR"), market=kr)
        for _ in range(count)
    ]


def _set_status(coupon: Coupon, status: str, **fields: Any) -> None:
    """Test data: a coupon held by an order, or used (the order flow's end states)."""
    Coupon.objects.filter(pk=coupon.pk).update(status=status, **fields)


def _coupon_states(campaign: Campaign) -> dict[int, tuple[str, str, Any]]:
    return {
        c.pk: (c.status, c.revoke_reason, c.revoked_by_id)
        for c in Coupon.objects.filter(campaign=campaign).order_by("pk")
    }


# --- Create -------------------------------------------------------------------------
def test_create_with_invalid_fields_shows_the_services_errors_per_field_and_creates_nothing(client):
    client.force_login(staff("marketing_manager"))
    product_ids = [stocked()[0].pk]

    response = client.post(
        CAMPAIGNS + "add/",
        _form(
            name_en="",
            discount_type="percent",
            discount_value="150",
            markets=[],
            per_user_limit="0",
            ends_at_0="2026-11-30",
            products=[str(product_ids[0]), "999999"],
        ),
    )

    assert response.status_code == 200
    expected = _service_errors(
        {
            "name_ko": "겨울 쿠폰",
            "name_en": "",
            "discount_type": "percent",
            "discount_value": 150,
            "max_discount": None,
            "min_order_amount": 20000,
            "markets": [],
            "total_quantity": 100,
            "per_user_limit": 0,
            "uses_per_coupon": 1,
            "valid_days": None,
            "starts_at": dt.datetime(2026, 12, 1, 9, tzinfo=KST),
            "ends_at": dt.datetime(2026, 11, 30, 9, tzinfo=KST),
        },
        _language(response),
    )
    assert set(expected) == {"name_en", "discount_value", "markets", "per_user_limit", "ends_at"}
    errors = {field: list(messages) for field, messages in response.context["adminform"].form.errors.items()}
    # The service's messages on the service's fields; the unknown product is the form's
    # own choice check, and the service does not complain about it a second time.
    products_error = errors.pop("products")
    assert errors == expected
    assert len(products_error) == 1 and "999999" in products_error[0]
    assert Campaign.objects.count() == 0
    page = _text(response)
    for message in expected["discount_value"] + expected["markets"] + expected["ends_at"]:
        assert message in page


def test_a_fixed_discount_in_dollars_becomes_exact_cents_and_a_fraction_of_a_cent_is_refused(client):
    actor = staff("ops_admin")
    client.force_login(actor)
    us = {"markets": ["US"], "discount_value": "5.25", "min_order_amount": "30.10"}

    refused = client.post(CAMPAIGNS + "add/", _form(**us | {"discount_value": "5.255"}))
    won_fraction = client.post(CAMPAIGNS + "add/", _form(discount_value="3000.5"))
    assert Campaign.objects.count() == 0
    created = client.post(CAMPAIGNS + "add/", _form(**us))

    assert refused.status_code == 200 and won_fraction.status_code == 200
    with translation.override(_language(refused)):
        assert list(refused.context["adminform"].form.errors["discount_value"]) == [
            translation.gettext("Enter the amount with at most %(places)s decimal places.") % {"places": 2}
        ]
        assert list(won_fraction.context["adminform"].form.errors["discount_value"]) == [
            translation.gettext("Enter a whole amount: %(currency)s has no minor unit.") % {"currency": "KRW"}
        ]
    assert created.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.discount_value, campaign.min_order_amount, campaign.currency) == (525, 3010, "USD")


def test_a_valid_campaign_is_created_in_draft_through_the_service(client):
    actor = staff("marketing_manager")
    client.force_login(actor)
    kept, _ = stocked()
    excluded, _ = stocked()

    response = client.post(
        CAMPAIGNS + "add/",
        _form(products=[str(kept.pk)], excluded_products=[str(excluded.pk)], valid_days="3"),
    )

    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert response["Location"] == CAMPAIGNS
    assert (
        campaign.name_ko,
        campaign.name_en,
        campaign.discount_type,
        campaign.discount_value,
        campaign.max_discount,
        campaign.min_order_amount,
        campaign.currency,
        campaign.total_quantity,
        campaign.issued_count,
        campaign.per_user_limit,
        campaign.uses_per_coupon,
        campaign.valid_days,
        campaign.status,
        campaign.created_by,
    ) == ("겨울 쿠폰", "Winter coupon", "fixed", 3000, None, 20000, "KRW", 100, 0, 1, 1, 3, "draft", actor)
    assert campaign.starts_at == dt.datetime(2026, 12, 1, 9, tzinfo=KST)
    assert campaign.ends_at == dt.datetime(2026, 12, 8, 9, tzinfo=KST)
    assert list(campaign.markets.values_list("code", flat=True)) == ["KR"]
    assert list(campaign.products.values_list("pk", flat=True)) == [kept.pk]
    assert list(campaign.excluded_products.values_list("pk", flat=True)) == [excluded.pk]
    assert list(campaign.categories.all()) == []


# --- Edit ---------------------------------------------------------------------------
def test_edit_shows_major_units_and_saves_through_the_service(client):
    actor = staff("marketing_manager")
    client.force_login(actor)
    campaign = services.campaign_create(
        data=campaign_data(markets=["US"], discount_value=525, min_order_amount=3010, total_quantity=50),
        actor=actor,
    )
    url = f"{CAMPAIGNS}{campaign.pk}/change/"

    page = client.get(url)
    form = page.context["adminform"].form
    assert (form.initial["discount_value"], form.initial["min_order_amount"]) == (
        Decimal("5.25"),
        Decimal("30.10"),
    )
    response = client.post(
        url,
        _form(
            name_en="Winter coupon",
            markets=["US"],
            discount_value="6",
            min_order_amount="",
            total_quantity="",
        ),
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (
        campaign.name_en,
        campaign.discount_value,
        campaign.min_order_amount,
        campaign.total_quantity,
    ) == (
        "Winter coupon",
        600,
        0,
        None,
    )
    assert campaign.status == "draft"


def test_edit_below_what_is_already_issued_is_refused_with_nothing_changed(client):
    actor = staff("marketing_manager")
    client.force_login(actor)
    campaign = active_campaign(actor=actor, total_quantity=10)
    _claimed(campaign, 3)
    before = _snapshot(campaign)

    response = client.post(
        f"{CAMPAIGNS}{campaign.pk}/change/",
        _form(name_en="Renamed", total_quantity="2"),
    )

    assert response.status_code == 200
    with translation.override(_language(response)):
        expected = translation.gettext("%(issued)s coupons are already issued.") % {"issued": 3}
    assert list(response.context["adminform"].form.errors["total_quantity"]) == [expected]
    assert _snapshot(campaign) == before


# --- Status -------------------------------------------------------------------------
def _buttons(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [to for to, _label in response.context["transitions"]]


def test_a_campaign_offers_only_the_legal_moves_and_moves_through_the_service(client):
    actor = staff("marketing_manager")
    client.force_login(actor)
    campaign = services.campaign_create(data=campaign_data(), actor=actor)
    page = f"{CAMPAIGNS}{campaign.pk}/change/"
    move = f"{CAMPAIGNS}{campaign.pk}/transition/"

    offered = {}
    for to_status in ("active", "paused", "active", "ended"):
        response = client.get(page)
        offered[Campaign.objects.get(pk=campaign.pk).status + "->" + to_status] = _buttons(response)
        assert client.post(move, {"to_status": to_status}).status_code == 302
        assert Campaign.objects.get(pk=campaign.pk).status == to_status

    assert offered == {
        "draft->active": ["active", "ended"],
        "active->paused": ["paused", "ended"],
        "paused->active": ["active", "ended"],
        "active->ended": ["paused", "ended"],
    }
    assert client.get(page).context["transitions"] == []  # ended: nothing left to do


def test_the_transition_buttons_are_named_for_what_they_do(client):
    actor = staff("ops_admin")
    client.force_login(actor)
    draft = services.campaign_create(data=campaign_data(), actor=actor)
    paused = active_campaign(actor=actor, status="paused")

    draft_page = client.get(f"{CAMPAIGNS}{draft.pk}/change/")
    paused_page = client.get(f"{CAMPAIGNS}{paused.pk}/change/")

    with translation.override(_language(draft_page)):
        gettext = translation.gettext
        assert draft_page.context["transitions"] == [
            ("active", gettext("Activate")),
            ("ended", gettext("End")),
        ]
        assert paused_page.context["transitions"] == [
            ("active", gettext("Resume")),
            ("ended", gettext("End")),
        ]
        assert gettext("Pause") in _text(client.get(f"{CAMPAIGNS}{active_campaign(actor=actor).pk}/change/"))


def test_an_illegal_move_is_refused_with_the_services_message_and_nothing_changes(client):
    actor = staff("ops_admin")
    client.force_login(actor)
    campaign = active_campaign(actor=actor, status="ended")
    before = _snapshot(campaign)

    response = client.post(f"{CAMPAIGNS}{campaign.pk}/transition/", {"to_status": "active"}, follow=True)

    with translation.override(_language(response)):
        expected = CampaignTransitionInvalid(from_status="ended", to_status="active").detail
    assert [str(m) for m in response.context["messages"]] == [expected]
    assert _snapshot(campaign) == before


# --- Stats --------------------------------------------------------------------------
def test_the_campaign_page_shows_live_stats(client):
    actor = staff("marketing_manager")
    client.force_login(actor)
    campaign = active_campaign(actor=actor, total_quantity=10)
    coupons = _claimed(campaign, 4)
    _set_status(coupons[0], "used", used_at=clock.now(), uses_left=0)
    _set_status(coupons[1], "revoked")
    for reason, times in (("coupon.sold_out", 3), ("coupon.already_claimed", 2)):
        for _ in range(times):
            metrics.claim_rejected(campaign_id=campaign.pk, reason=reason)

    response = client.get(f"{CAMPAIGNS}{campaign.pk}/change/")

    stats = response.context["stats"]
    assert (stats.total, stats.issued, stats.remaining, stats.used, stats.usage_rate, stats.revoked) == (
        10,
        4,
        6,
        1,
        0.25,
        1,
    )
    assert stats.claims_rejected == {"coupon.sold_out": 3, "coupon.already_claimed": 2}
    section = _text(response).split('id="campaign-stats"', 1)[1].split("</section>", 1)[0]
    for element, value in (
        ("stats-total", "10"),
        ("stats-issued", "4"),
        ("stats-remaining", "6"),
        ("stats-used", "1"),
        ("stats-usage-rate", "25.0%"),
        ("stats-revoked", "1"),
        ("stats-rejected-total", "5"),
    ):
        assert f'id="{element}">{value}<' in section, element
    rows = [(r["code"], r["count"]) for r in response.context["stats_rejected"]]
    assert rows == [("coupon.already_claimed", 2), ("coupon.sold_out", 3)]

    _claimed(campaign, 1)  # refreshed on the next load
    assert client.get(f"{CAMPAIGNS}{campaign.pk}/change/").context["stats"].issued == 5


# --- Revoke -------------------------------------------------------------------------
def test_revoke_all_unused_takes_back_only_the_ready_coupons(client):
    actor = staff("marketing_manager")
    client.force_login(actor)
    campaign = active_campaign(actor=actor)
    other = active_campaign(actor=actor)
    ready_a, ready_b, held, used = _claimed(campaign, 4)
    _set_status(held, "reserved", held_by="order:held")
    _set_status(used, "used", used_at=clock.now(), uses_left=0)
    (untouched,) = _claimed(other, 1)
    url = f"{CAMPAIGNS}{campaign.pk}/revoke/"

    response = client.post(url, {"reason": "Issued by mistake", "confirm": "on"})

    assert response.status_code == 302
    assert response["Location"] == f"{CAMPAIGNS}{campaign.pk}/change/"
    assert _coupon_states(campaign) == {
        ready_a.pk: ("revoked", "Issued by mistake", actor.pk),
        ready_b.pk: ("revoked", "Issued by mistake", actor.pk),
        held.pk: ("reserved", "", None),
        used.pk: ("used", "", None),
    }
    assert Coupon.objects.get(pk=untouched.pk).status == "issued"
    assert OutboxEvent.objects.filter(type="coupon.revoked").count() == 2


@pytest.mark.parametrize(
    "post",
    [{"reason": "Issued by mistake"}, {"reason": "   ", "confirm": "on"}, {}],
    ids=["unconfirmed", "blank", "empty"],
)
def test_revoke_all_needs_a_reason_and_a_confirmation(client, post):
    actor = staff("ops_admin")
    client.force_login(actor)
    campaign = active_campaign(actor=actor)
    _claimed(campaign, 2)
    before = _coupon_states(campaign)

    response = client.post(f"{CAMPAIGNS}{campaign.pk}/revoke/", post)

    assert response.status_code == 200
    assert response.context["form"].errors
    assert _coupon_states(campaign) == before
    assert OutboxEvent.objects.filter(type="coupon.revoked").count() == 0


def _action(client, ids: list[int], **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        COUPONS, {"action": "revoke_selected", ACTION_CHECKBOX_NAME: [str(i) for i in ids], **extra}
    )


def test_revoke_selected_asks_why_then_takes_back_the_unused_ones_only(client):
    actor = staff("marketing_manager")
    client.force_login(actor)
    first, second = active_campaign(actor=actor), active_campaign(actor=actor)
    a, used, kept = _claimed(first, 3)
    (b,) = _claimed(second, 1)
    _set_status(used, "used", used_at=clock.now(), uses_left=0)

    asked = _action(client, [a.pk, used.pk, b.pk])
    assert asked.status_code == 200
    assert "admin/coupons/coupon_revoke.html" in [t.name for t in asked.templates]
    assert (asked.context["selected_count"], asked.context["unused_count"]) == (3, 2)
    assert Coupon.objects.filter(status="revoked").count() == 0

    done = _action(client, [a.pk, used.pk, b.pk], reason="Fraud ring")

    assert done.status_code == 302
    states = {c.pk: (c.status, c.revoke_reason, c.revoked_by_id) for c in Coupon.objects.order_by("pk")}
    assert states == {
        a.pk: ("revoked", "Fraud ring", actor.pk),
        used.pk: ("used", "", None),
        kept.pk: ("issued", "", None),
        b.pk: ("revoked", "Fraud ring", actor.pk),
    }


def test_revoke_selected_without_a_reason_changes_nothing(client):
    actor = staff("ops_admin")
    client.force_login(actor)
    campaign = active_campaign(actor=actor)
    coupons = _claimed(campaign, 2)
    before = _coupon_states(campaign)

    response = _action(client, [c.pk for c in coupons], reason="  ")

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["reason"]
    assert _coupon_states(campaign) == before


# --- Read-only lists ----------------------------------------------------------------
def test_the_coupon_and_usage_lists_show_who_what_and_when(client):
    actor = staff("cs_agent")
    client.force_login(actor)
    campaign = active_campaign(actor=staff("marketing_manager"), name_ko="봄맞이 쿠폰")
    (coupon,) = _claimed(campaign, 1)
    now = timezone.now()
    CouponUse.objects.create(
        coupon=coupon,
        owner="order:abc",
        order_number="KR-20261130-0001",
        discount=1000,
        currency="KRW",
        status="used",
        created_at=now,
        updated_at=now,
    )

    coupons = _text(client.get(COUPONS))
    uses = _text(client.get(USES))

    assert coupon.user.email in coupons and "봄맞이 쿠폰" in coupons  # the staff member's language
    assert "KR-20261130-0001" in uses and "₩1,000" in uses and coupon.user.email in uses
    assert client.get(f"{COUPONS}?q={coupon.user.email}").context["cl"].result_count == 1


def _list_queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_list_query_counts_do_not_grow_with_rows(client):
    actor = staff("ops_admin")
    client.force_login(actor)
    client.get("/admin/")  # the process-wide market cache filled, as on a running server
    marketer = staff("marketing_manager")
    for _ in range(2):
        campaign = active_campaign(actor=marketer, markets=["KR"])
        _claimed(campaign, 1)
    counts_small = [_list_queries(client, url) for url in (CAMPAIGNS, COUPONS, USES)]
    for _ in range(3):
        campaign = active_campaign(actor=marketer)
        _claimed(campaign, 2)
    counts_large = [_list_queries(client, url) for url in (CAMPAIGNS, COUPONS, USES)]

    assert counts_small == counts_large
    assert counts_large == PINNED


#: Campaigns, coupons, usage history. Each: session, user, object permissions, user and
#: group permissions (5); campaigns: the market filter's choices, the count, the page (used
#: counts in a subquery), their markets (prefetched); coupons: the campaign filter's
#: choices, the count, the page (members and campaigns joined); usage: the count, the page.
PINNED = [9, 8, 7]


# --- Roles --------------------------------------------------------------------------
def test_inventory_managers_see_nothing_of_coupons(client):
    campaign = active_campaign(actor=staff("marketing_manager"))
    client.force_login(staff("inventory_manager"))

    for url in (
        CAMPAIGNS,
        COUPONS,
        USES,
        CAMPAIGNS + "add/",
        f"{CAMPAIGNS}{campaign.pk}/change/",
        f"{CAMPAIGNS}{campaign.pk}/revoke/",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"{CAMPAIGNS}{campaign.pk}/transition/", {"to_status": "paused"}).status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == "active"


def test_customer_service_reads_campaigns_but_changes_and_revokes_nothing(client):
    campaign = active_campaign(actor=staff("marketing_manager"))
    (coupon,) = _claimed(campaign, 1)
    client.force_login(staff("cs_agent"))

    page = client.get(f"{CAMPAIGNS}{campaign.pk}/change/")

    assert page.status_code == 200
    assert page.context["transitions"] == [] and page.context["revoke_form"] is None
    assert 'id="campaign-stats"' in _text(page) and 'id="campaign-revoke"' not in _text(page)
    assert client.get(CAMPAIGNS + "add/").status_code == 403
    assert client.post(f"{CAMPAIGNS}{campaign.pk}/transition/", {"to_status": "paused"}).status_code == 403
    assert (
        client.post(f"{CAMPAIGNS}{campaign.pk}/revoke/", {"reason": "x", "confirm": "on"}).status_code == 403
    )
    assert "revoke_selected" not in (
        client.get(COUPONS).context["cl"].model_admin.get_actions(page.wsgi_request)
    )
    assert _action(client, [coupon.pk], reason="x").status_code in (200, 302)
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"
    assert Campaign.objects.get(pk=campaign.pk).status == "active"


@pytest.mark.parametrize("role", ["ops_admin", "marketing_manager", "cs_agent"])
def test_nobody_deletes_campaigns_or_coupons(client, role):
    campaign = active_campaign(actor=staff("marketing_manager"))
    (coupon,) = _claimed(campaign, 1)
    client.force_login(staff(role))

    assert client.post(f"{CAMPAIGNS}{campaign.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{COUPONS}{coupon.pk}/delete/", {"post": "yes"}).status_code == 403
    assert (Campaign.objects.count(), Coupon.objects.count()) == (1, 1)
