"""Campaigns (issue 21): every field checked, edits never below what was issued, the status
table, revoking unused coupons (audited, with events) and expiring the ones past their date."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction

from apps.core.models import OutboxEvent
from apps.coupons import selectors, services
from apps.coupons.errors import CampaignInvalid, CampaignNotFound, CampaignTransitionInvalid
from apps.coupons.models import Campaign, Coupon
from apps.coupons.services import PricedLine
from tests.accounts.factories import MemberFactory
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.coupons.factories import active_campaign, campaign_data

pytestmark = pytest.mark.django_db


def _errors(**overrides: Any) -> dict[str, str]:
    """{field: code} of what campaign_clean refuses in valid data with these changes."""
    with pytest.raises(CampaignInvalid) as exc:
        services.campaign_clean(campaign_data(**overrides))
    assert exc.value.code == "coupon.campaign_invalid"
    return {e["field"]: e["code"] for e in exc.value.params["errors"]}


def test_valid_data_is_cleaned_with_defaults(db):
    cleaned = services.campaign_clean(campaign_data(name_ko="  봄 쿠폰  "))
    assert cleaned["name_ko"] == "봄 쿠폰"
    assert [m.code for m in cleaned["markets"]] == ["KR"]
    assert cleaned["currency"] == "KRW"
    assert (cleaned["per_user_limit"], cleaned["uses_per_coupon"], cleaned["min_order_amount"]) == (1, 1, 0)
    assert (cleaned["total_quantity"], cleaned["valid_days"], cleaned["max_discount"]) == (None, None, None)


@pytest.mark.parametrize("value", ["", "   ", "x" * 121, None, 5])
@pytest.mark.parametrize("field", ["name_ko", "name_en"])
def test_names_need_1_to_120_characters(db, field, value):
    assert _errors(**{field: value}) == {field: "invalid"}


def test_a_name_of_120_characters_is_fine(db):
    assert services.campaign_clean(campaign_data(name_en="x" * 120))["name_en"] == "x" * 120


def test_the_discount_type_is_fixed_or_percent(db):
    assert _errors(discount_type="free")["discount_type"] == "invalid"


@pytest.mark.parametrize(("value", "ok"), [(0, False), (1, True), (50, True), (100, True), (101, False)])
def test_a_percent_is_1_to_100(db, value, ok):
    data = campaign_data(discount_type="percent", discount_value=value)
    if ok:
        assert services.campaign_clean(data)["discount_value"] == value
    else:
        assert _errors(discount_type="percent", discount_value=value) == {"discount_value": "invalid"}


@pytest.mark.parametrize("value", [0, -5, True, "1000", None, 1.5])
def test_a_fixed_discount_is_a_positive_whole_amount(db, value):
    assert _errors(discount_value=value) == {"discount_value": "invalid"}


def test_a_fixed_discount_may_exceed_100(db):
    assert services.campaign_clean(campaign_data(discount_value=5000))["discount_value"] == 5000


def test_a_cap_applies_to_percent_only(db):
    assert _errors(max_discount=3000) == {"max_discount": "invalid"}
    cleaned = services.campaign_clean(
        campaign_data(discount_type="percent", discount_value=10, max_discount=3000)
    )
    assert cleaned["max_discount"] == 3000
    assert _errors(discount_type="percent", discount_value=10, max_discount=0) == {"max_discount": "invalid"}


@pytest.mark.parametrize(
    "window",
    [
        {
            "ends_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            "starts_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        },
        {
            "ends_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            "starts_at": dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
        },
        {"starts_at": None},
        {"ends_at": "2026-03-01"},
    ],
)
def test_the_window_must_be_ordered(db, window):
    assert _errors(**window) == {"ends_at": "invalid"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_quantity", 0),
        ("per_user_limit", 0),
        ("per_user_limit", 101),
        ("uses_per_coupon", 0),
        ("uses_per_coupon", 101),
        ("valid_days", 0),
        ("valid_days", 3651),
        ("min_order_amount", -1),
    ],
)
def test_counts_out_of_range_are_refused(db, field, value):
    assert _errors(**{field: value}) == {field: "invalid"}


@pytest.mark.parametrize("markets", [[], ["XX"], ["KR", "XX"], "KR", None])
def test_markets_must_exist_and_be_given(db, markets):
    assert _errors(markets=markets) == {"markets": "invalid"}


@pytest.mark.parametrize(
    "amounts",
    [
        {},  # a fixed discount is an amount
        {"discount_type": "percent", "discount_value": 10, "max_discount": 3000},
        {"discount_type": "percent", "discount_value": 10, "min_order_amount": 20000},
    ],
)
def test_amounts_need_one_currency(db, amounts):
    assert _errors(markets=["KR", "US"], **amounts) == {"markets": "one_currency"}


def test_a_plain_percent_may_run_in_several_markets(db):
    cleaned = services.campaign_clean(
        campaign_data(markets=["KR", "US"], discount_type="percent", discount_value=10)
    )
    assert sorted(m.code for m in cleaned["markets"]) == ["KR", "US"]
    assert cleaned["currency"] == ""


def test_a_us_campaign_counts_in_dollars(db):
    assert services.campaign_clean(campaign_data(markets=["US"], discount_value=500))["currency"] == "USD"


@pytest.mark.parametrize("field", ["categories", "products", "excluded_products"])
def test_unknown_or_malformed_ids_are_refused(db, field):
    assert _errors(**{field: [999_999]}) == {field: "not_found"}
    assert _errors(**{field: ["1"]}) == {field: "invalid"}
    assert _errors(**{field: [True]}) == {field: "invalid"}
    assert _errors(**{field: 5}) == {field: "invalid"}


def test_known_ids_are_kept(db):
    category = CategoryFactory()
    product = ProductFactory()
    cleaned = services.campaign_clean(
        campaign_data(categories=[category.pk], products=[product.pk], excluded_products=[product.pk])
    )
    assert (cleaned["categories"], cleaned["products"], cleaned["excluded_products"]) == (
        [category],
        [product],
        [product],
    )


def test_every_wrong_field_is_reported_at_once(db):
    assert _errors(name_ko="", discount_value=0, markets=[], per_user_limit=0) == {
        "name_ko": "invalid",
        "discount_value": "invalid",
        "markets": "invalid",
        "per_user_limit": "invalid",
    }


def test_create_stores_a_draft_with_its_rules(marketer):
    category = CategoryFactory()
    campaign = services.campaign_create(
        data=campaign_data(
            discount_type="percent", discount_value=15, max_discount=5000, categories=[category.pk]
        ),
        actor=marketer,
    )
    campaign.refresh_from_db()
    assert (campaign.status, campaign.currency, campaign.created_by) == ("draft", "KRW", marketer)
    assert list(campaign.categories.all()) == [category]
    assert [m.code for m in campaign.markets.all()] == ["KR"]


def test_create_refused_stores_nothing(marketer):
    with pytest.raises(CampaignInvalid):
        services.campaign_create(data=campaign_data(discount_value=0), actor=marketer)
    assert Campaign.objects.count() == 0


# --- update -------------------------------------------------------------------------------------


def test_update_cannot_go_below_what_was_issued(campaign, kr, marketer):
    # given: 5 coupons, 3 issued
    c = campaign(total_quantity=5)
    for _ in range(3):
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    # when / then: 2 is refused and nothing changes
    with pytest.raises(CampaignInvalid) as exc:
        services.campaign_update(
            campaign_id=c.pk, data=campaign_data(total_quantity=2, name_en="X"), actor=marketer
        )
    assert exc.value.params["errors"] == [
        {"field": "total_quantity", "code": "below_issued", "message": "3 coupons are already issued."}
    ]
    c.refresh_from_db()
    assert (c.total_quantity, c.issued_count, c.name_en) == (5, 3, "Spring coupon")
    # exactly what was issued is fine (sold out), and so is unlimited
    assert (
        services.campaign_update(
            campaign_id=c.pk, data=campaign_data(total_quantity=3), actor=marketer
        ).remaining
        == 0
    )
    updated = services.campaign_update(campaign_id=c.pk, data=campaign_data(), actor=marketer)
    assert (updated.total_quantity, updated.issued_count, updated.status) == (None, 3, "active")


def test_update_changes_the_rules_and_the_lists(campaign, marketer):
    c = campaign()
    product = ProductFactory()
    services.campaign_update(
        campaign_id=c.pk,
        data=campaign_data(name_en="Summer", per_user_limit=2, excluded_products=[product.pk]),
        actor=marketer,
    )
    c.refresh_from_db()
    assert (c.name_en, c.per_user_limit) == ("Summer", 2)
    assert list(c.excluded_products.all()) == [product]


def test_update_of_an_unknown_campaign_is_not_found(marketer):
    with pytest.raises(CampaignNotFound):
        services.campaign_update(campaign_id=999_999, data=campaign_data(), actor=marketer)


# --- transitions ---------------------------------------------------------------------------------

ALLOWED = {
    ("draft", "active"),
    ("draft", "ended"),
    ("active", "paused"),
    ("active", "ended"),
    ("paused", "active"),
    ("paused", "ended"),
}
STATUSES = ["draft", "active", "paused", "ended"]


@pytest.mark.parametrize("to_status", [*STATUSES, "bogus"])
@pytest.mark.parametrize("from_status", STATUSES)
def test_the_transition_table(marketer, from_status, to_status):
    c = active_campaign(actor=marketer, status=from_status)
    assert c.status == from_status
    if (from_status, to_status) in ALLOWED:
        assert (
            services.campaign_transition(campaign_id=c.pk, to_status=to_status, actor=marketer).status
            == to_status
        )
        c.refresh_from_db()
        assert c.status == to_status
    else:
        with pytest.raises(CampaignTransitionInvalid) as exc:
            services.campaign_transition(campaign_id=c.pk, to_status=to_status, actor=marketer)
        assert (exc.value.params["from_status"], exc.value.params["to_status"]) == (from_status, to_status)
        c.refresh_from_db()
        assert c.status == from_status


def test_transition_of_an_unknown_campaign_is_not_found(marketer):
    with pytest.raises(CampaignNotFound):
        services.campaign_transition(campaign_id=999_999, to_status="active", actor=marketer)


# --- revoke ---------------------------------------------------------------------------------------


def _sale(campaign, kr) -> tuple[Campaign, list[Coupon]]:
    """4 coupons: two ready, one held by order:h, one used by order:u."""
    c = campaign()
    members = [MemberFactory() for _ in range(4)]
    coupons = [services.coupon_claim(campaign_id=c.pk, user=m, market=kr) for m in members]
    lines = [PricedLine(product_id=1, category_id=None, merchandise=30000)]
    with transaction.atomic():
        services.coupon_hold(
            public_id=coupons[2].public_id, user=members[2], market=kr, owner="order:h", lines=lines
        )
        services.coupon_hold(
            public_id=coupons[3].public_id, user=members[3], market=kr, owner="order:u", lines=lines
        )
        services.coupon_use(owner="order:u")
    return c, coupons


def _statuses(coupons: list[Coupon]) -> list[str]:
    return [Coupon.objects.get(pk=c.pk).status for c in coupons]


def test_revoke_all_takes_back_every_unused_coupon_only(campaign, kr, marketer):
    # given
    c, coupons = _sale(campaign, kr)
    # when
    n = services.coupons_revoke(campaign_id=c.pk, actor=marketer, reason="오발급")
    # then: the two ready ones; held and used untouched
    assert n == 2
    assert _statuses(coupons) == ["revoked", "revoked", "reserved", "used"]
    for coupon in coupons[:2]:
        coupon.refresh_from_db()
        assert (coupon.revoked_by, coupon.revoke_reason) == (marketer, "오발급")
        assert coupon.revoked_at is not None
    assert coupons[2].revoked_at is None
    events = OutboxEvent.objects.filter(type="coupon.revoked").order_by("sequence")
    assert [e.payload for e in events] == [
        {"coupon_id": str(x.public_id), "user_id": x.user_id, "reason": "오발급", "actor_id": marketer.pk}
        for x in coupons[:2]
    ]
    assert selectors.campaign_stats(c).revoked == 2
    # again: nothing left to revoke
    assert services.coupons_revoke(campaign_id=c.pk, actor=marketer, reason="again") == 0
    assert OutboxEvent.objects.filter(type="coupon.revoked").count() == 2


def test_revoke_selected_takes_back_only_those_unused(campaign, kr, marketer):
    c, coupons = _sale(campaign, kr)
    chosen = [coupons[1].public_id, coupons[2].public_id, coupons[3].public_id]
    assert services.coupons_revoke(campaign_id=c.pk, actor=marketer, reason="abuse", coupon_ids=chosen) == 1
    assert _statuses(coupons) == ["issued", "revoked", "reserved", "used"]
    assert OutboxEvent.objects.filter(type="coupon.revoked").count() == 1


def test_revoke_leaves_other_campaigns_alone(campaign, kr, marketer):
    c, _coupons = _sale(campaign, kr)
    other = campaign()
    theirs = services.coupon_claim(campaign_id=other.pk, user=MemberFactory(), market=kr)
    services.coupons_revoke(campaign_id=c.pk, actor=marketer, reason="x", coupon_ids=[theirs.public_id])
    assert _statuses([theirs]) == ["issued"]


# --- expire ---------------------------------------------------------------------------------------


def test_expire_due_expires_ready_coupons_past_their_date_only(campaign, kr):
    # given: coupons valid 1 day; one ready, one held
    c = campaign(valid_days=1)
    ready, held = (services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr) for _ in range(2))
    Coupon.objects.filter(pk=held.pk).update(status="reserved", held_by="order:h")
    due = ready.expires_at
    # when: a second before, nothing; at the date, the ready one
    assert services.coupons_expire_due(now=due - dt.timedelta(seconds=1)) == 0
    assert services.coupons_expire_due(now=due) == 1
    # then
    assert _statuses([ready, held]) == ["expired", "reserved"]
    assert services.coupons_expire_due(now=due) == 0
