"""Coupon pricing and the order flow (issue 21): eligibility one rule at a time, the minimum,
fixed and percent (capped) discounts rounded down to the market's increment, refusals with
their reason, and hold / use / release / restore."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from apps.core.models import OutboxEvent
from apps.coupons import services
from apps.coupons.errors import NOT_APPLICABLE_REASONS, NotApplicable
from apps.coupons.models import Campaign, Coupon, CouponUse
from apps.coupons.services import PricedLine
from tests.accounts.factories import MemberFactory
from tests.catalog.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

OTHER_PRODUCT, OTHER_CATEGORY = 987_654, 876_543


def _line(product_id: int, category_id: int | None, merchandise: int) -> PricedLine:
    return PricedLine(product_id=product_id, category_id=category_id, merchandise=merchandise)


# --- eligibility -----------------------------------------------------------------------------


def test_no_rules_cover_every_line(campaign):
    c = campaign()
    lines = [_line(1, 1, 5000), _line(2, None, 3000)]
    assert services.eligible_amounts(c, lines) == [5000, 3000]


def test_a_category_covers_its_children_but_not_its_parent_or_others(campaign):
    # given: parent > child > grandchild, and an unrelated category; the campaign names "child"
    parent = CategoryFactory()
    child = CategoryFactory(parent=parent)
    grandchild = CategoryFactory(parent=child)
    other = CategoryFactory()
    c = campaign(categories=[child.pk])
    lines = [
        _line(1, child.pk, 1000),
        _line(2, grandchild.pk, 2000),
        _line(3, parent.pk, 4000),
        _line(4, other.pk, 8000),
        _line(5, None, 16000),
    ]
    # then
    assert services.eligible_amounts(c, lines) == [1000, 2000, 0, 0, 0]


def test_products_cover_only_themselves(campaign):
    x = ProductFactory()
    c = campaign(products=[x.pk])
    lines = [_line(x.pk, x.category_id, 1500), _line(OTHER_PRODUCT, x.category_id, 2500)]
    assert services.eligible_amounts(c, lines) == [1500, 0]


def test_categories_and_products_together_cover_either(campaign):
    category = CategoryFactory()
    x = ProductFactory()
    c = campaign(categories=[category.pk], products=[x.pk])
    lines = [
        _line(x.pk, OTHER_CATEGORY, 100),
        _line(OTHER_PRODUCT, category.pk, 200),
        _line(OTHER_PRODUCT + 1, OTHER_CATEGORY + 1, 300),
    ]
    assert services.eligible_amounts(c, lines) == [100, 200, 0]


def test_an_excluded_product_is_out_even_in_a_covered_category(campaign):
    category = CategoryFactory()
    x = ProductFactory(category=category)
    c = campaign(categories=[category.pk], excluded_products=[x.pk])
    lines = [_line(x.pk, category.pk, 1000), _line(OTHER_PRODUCT, category.pk, 2000)]
    assert services.eligible_amounts(c, lines) == [0, 2000]


def test_an_exclusion_without_other_rules_leaves_everything_else_in(campaign):
    x = ProductFactory()
    c = campaign(excluded_products=[x.pk])
    lines = [_line(x.pk, x.category_id, 1000), _line(OTHER_PRODUCT, None, 2000)]
    assert services.eligible_amounts(c, lines) == [0, 2000]


# --- amounts ----------------------------------------------------------------------------------


def _rule(kind: str, value: int, cap: int | None = None) -> Campaign:
    return Campaign(discount_type=kind, discount_value=value, max_discount=cap)


@pytest.mark.parametrize(
    ("kind", "value", "cap", "eligible", "kr_discount"),
    [
        ("fixed", 1000, None, 30000, 1000),
        ("fixed", 1000, None, 995, 990),  # never above the subtotal, then rounded down
        ("fixed", 1005, None, 30000, 1000),  # an odd amount rounds down to 10 won
        ("fixed", 1000, None, 9, 0),  # less than one increment: nothing
        ("percent", 10, None, 12345, 1230),  # 1234.5 -> 1234 -> 1230
        ("percent", 33, None, 999, 320),  # 329.67 -> 329 -> 320
        ("percent", 100, None, 995, 990),
        ("percent", 20, 5000, 30000, 5000),  # 6000 capped at 5000
        ("percent", 20, 5005, 30000, 5000),  # the cap itself rounds down
        ("percent", 20, 5000, 20000, 4000),  # under the cap
        ("percent", 1, None, 999, 0),
    ],
)
def test_kr_discounts_round_down_to_10_won(kr, kind, value, cap, eligible, kr_discount):
    assert services.discount_for(_rule(kind, value, cap), eligible, kr) == kr_discount


@pytest.mark.parametrize(
    ("kind", "value", "cap", "eligible", "us_discount"),
    [
        ("fixed", 500, None, 2000, 500),
        ("fixed", 500, None, 499, 499),  # never above the subtotal
        ("percent", 15, None, 1999, 299),  # 299.85 cents -> 299
        ("percent", 15, 250, 1999, 250),
        ("percent", 50, None, 1, 0),
    ],
)
def test_us_discounts_round_down_to_the_cent(us, kind, value, cap, eligible, us_discount):
    assert services.discount_for(_rule(kind, value, cap), eligible, us) == us_discount


# --- pricing a member's coupon ------------------------------------------------------------------


def _claimed(campaign, kr, **overrides):
    c = campaign(**overrides)
    member = MemberFactory()
    return services.coupon_claim(campaign_id=c.pk, user=member, market=kr), member


def _reason(exc: pytest.ExceptionInfo[NotApplicable]) -> tuple[str, str]:
    return exc.value.params["reason"], exc.value.params["reason_text"]


def test_price_takes_the_eligible_subtotal_and_reports_the_eligible_part_per_line(campaign, kr):
    # given: 10% capped at 3,000 won, on one category, minimum 20,000 won of eligible items
    category = CategoryFactory()
    coupon, _ = _claimed(
        campaign,
        kr,
        discount_type="percent",
        discount_value=10,
        max_discount=3000,
        min_order_amount=20000,
        categories=[category.pk],
    )
    lines = [_line(1, category.pk, 12900), _line(2, OTHER_CATEGORY, 50000), _line(3, category.pk, 8000)]
    # when
    pricing = services.coupon_price(coupon=coupon, market=kr, lines=lines)
    # then: 10% of 20,900 = 2,090
    assert (pricing.discount, pricing.eligible) == (2090, [12900, 0, 8000])


def test_price_below_the_minimum_of_eligible_items_is_refused(campaign, kr):
    category = CategoryFactory()
    coupon, _ = _claimed(campaign, kr, min_order_amount=20000, categories=[category.pk])
    # 50,000 won in all, but only 19,990 eligible
    lines = [_line(1, category.pk, 19990), _line(2, OTHER_CATEGORY, 30010)]
    with pytest.raises(NotApplicable) as exc:
        services.coupon_price(coupon=coupon, market=kr, lines=lines)
    assert exc.value.code == "coupon.not_applicable"
    assert _reason(exc) == ("min_order_amount", "the order is below the minimum of ₩20,000")
    # exactly the minimum is enough
    ok = [_line(1, category.pk, 20000)]
    assert services.coupon_price(coupon=coupon, market=kr, lines=ok).discount == 1000


def test_price_with_no_eligible_item_is_refused(campaign, kr):
    x = ProductFactory()
    coupon, _ = _claimed(campaign, kr, products=[x.pk])
    with pytest.raises(NotApplicable) as exc:
        services.coupon_price(coupon=coupon, market=kr, lines=[_line(OTHER_PRODUCT, None, 50000)])
    assert _reason(exc) == ("no_eligible_items", str(NOT_APPLICABLE_REASONS["no_eligible_items"]))


def test_price_in_another_market_is_refused(campaign, kr, us):
    coupon, _ = _claimed(campaign, kr)
    with pytest.raises(NotApplicable) as exc:
        services.coupon_price(coupon=coupon, market=us, lines=[_line(1, None, 5000)])
    assert _reason(exc) == ("market", "it is not for this market")


def test_price_after_expiry_is_refused(campaign, kr):
    coupon, _ = _claimed(campaign, kr, valid_days=1)
    later = coupon.expires_at
    with pytest.raises(NotApplicable) as exc:
        services.coupon_price(coupon=coupon, market=kr, lines=[_line(1, None, 5000)], now=later)
    assert _reason(exc) == ("expired", "it has expired")
    just_before = later - dt.timedelta(seconds=1)
    assert services.coupon_price(coupon=coupon, market=kr, lines=[_line(1, None, 5000)], now=just_before)


def test_price_with_no_uses_left_is_refused(campaign, kr):
    coupon, _ = _claimed(campaign, kr)
    Coupon.objects.filter(pk=coupon.pk).update(uses_left=0)
    coupon.refresh_from_db()
    with pytest.raises(NotApplicable) as exc:
        services.coupon_price(coupon=coupon, market=kr, lines=[_line(1, None, 5000)])
    assert _reason(exc) == ("used_up", "it has no uses left")


@pytest.mark.parametrize("status", ["used", "revoked", "expired", "reserved"])
def test_price_of_a_coupon_not_ready_is_refused(campaign, kr, status):
    coupon, _ = _claimed(campaign, kr)
    Coupon.objects.filter(pk=coupon.pk).update(status=status, held_by="order:someone-else")
    coupon.refresh_from_db()
    with pytest.raises(NotApplicable) as exc:
        services.coupon_price(coupon=coupon, market=kr, lines=[_line(1, None, 5000)], held_by="order:me")
    assert _reason(exc) == ("not_usable", "it is held by another order, used or revoked")


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("ended", ("campaign_inactive", "its campaign is not running")),
        # a coupon never outlives its campaign: past the end it has expired
        ("past_end", ("expired", "it has expired")),
    ],
)
def test_price_when_the_campaign_no_longer_runs_is_refused(campaign, kr, marketer, how, reason):
    coupon, _ = _claimed(campaign, kr)
    now = None
    if how == "ended":
        services.campaign_transition(campaign_id=coupon.campaign_id, to_status="ended", actor=marketer)
    else:
        now = coupon.campaign.ends_at
    coupon = Coupon.objects.select_related("campaign").get(pk=coupon.pk)
    with pytest.raises(NotApplicable) as exc:
        services.coupon_price(coupon=coupon, market=kr, lines=[_line(1, None, 5000)], now=now)
    assert _reason(exc) == reason


def test_a_paused_campaigns_coupon_still_prices(campaign, kr, marketer):
    coupon, _ = _claimed(campaign, kr)
    services.campaign_transition(campaign_id=coupon.campaign_id, to_status="paused", actor=marketer)
    coupon = Coupon.objects.select_related("campaign").get(pk=coupon.pk)
    assert services.coupon_price(coupon=coupon, market=kr, lines=[_line(1, None, 5000)]).discount == 1000


def test_every_reason_has_been_shown():
    # the reasons refused above, one test each
    assert set(NOT_APPLICABLE_REASONS) == {
        "expired",
        "used_up",
        "not_usable",
        "campaign_inactive",
        "market",
        "min_order_amount",
        "no_eligible_items",
    }


# --- hold, use, release, restore -----------------------------------------------------------------

LINES = [_line(1, None, 30000)]


def _coupon_row(coupon: Coupon) -> tuple[str, int, str]:
    coupon.refresh_from_db()
    return coupon.status, coupon.uses_left, coupon.held_by


def _uses(coupon: Coupon) -> list[tuple[str, str, int, str]]:
    return list(
        CouponUse.objects.filter(coupon=coupon)
        .order_by("pk")
        .values_list("owner", "status", "discount", "order_number")
    )


def test_hold_then_use_spends_the_coupon_and_emits_coupon_used(campaign, kr):
    coupon, member = _claimed(campaign, kr)
    # when: the order holds it, then is paid
    with transaction.atomic():
        pricing = services.coupon_hold(
            public_id=coupon.public_id, user=member, market=kr, owner="order:1", lines=LINES
        )
    assert pricing.discount == 1000
    assert _coupon_row(coupon) == ("reserved", 1, "order:1")
    assert _uses(coupon) == [("order:1", "held", 1000, "")]
    with transaction.atomic():
        used = services.coupon_use(owner="order:1", order_number="J-0001")
    # then
    assert [c.pk for c in used] == [coupon.pk]
    assert _coupon_row(coupon) == ("used", 0, "order:1")
    assert coupon.used_at is not None
    assert _uses(coupon) == [("order:1", "used", 1000, "J-0001")]
    event = OutboxEvent.objects.get(type="coupon.used")
    assert event.payload == {
        "coupon_id": str(coupon.public_id),
        "user_id": member.pk,
        "order": "order:1",
        "uses_left": 0,
    }


def test_a_held_coupon_cannot_be_held_by_another_order_but_the_same_order_may_ask_again(campaign, kr):
    coupon, member = _claimed(campaign, kr)
    with transaction.atomic():
        services.coupon_hold(public_id=coupon.public_id, user=member, market=kr, owner="order:1", lines=LINES)
    with pytest.raises(NotApplicable) as exc, transaction.atomic():
        services.coupon_hold(public_id=coupon.public_id, user=member, market=kr, owner="order:2", lines=LINES)
    assert exc.value.params["reason"] == "not_usable"
    assert _coupon_row(coupon) == ("reserved", 1, "order:1")
    assert _uses(coupon) == [("order:1", "held", 1000, "")]


def test_a_multi_use_coupon_goes_back_to_ready_until_its_last_use(campaign, kr):
    coupon, member = _claimed(campaign, kr, uses_per_coupon=2)
    for n, expected in ((1, ("issued", 1)), (2, ("used", 0))):
        with transaction.atomic():
            services.coupon_hold(
                public_id=coupon.public_id, user=member, market=kr, owner=f"order:{n}", lines=LINES
            )
            services.coupon_use(owner=f"order:{n}", order_number=f"J-{n}")
        assert _coupon_row(coupon)[:2] == expected
    with pytest.raises(NotApplicable), transaction.atomic():
        services.coupon_hold(public_id=coupon.public_id, user=member, market=kr, owner="order:3", lines=LINES)
    assert [u[1] for u in _uses(coupon)] == ["used", "used"]


def test_hold_then_release_makes_it_ready_again(campaign, kr):
    coupon, member = _claimed(campaign, kr)
    with transaction.atomic():
        services.coupon_hold(public_id=coupon.public_id, user=member, market=kr, owner="order:1", lines=LINES)
    with transaction.atomic():
        assert services.coupon_release(owner="order:1") == 1
    assert _coupon_row(coupon) == ("issued", 1, "")
    assert _uses(coupon) == [("order:1", "released", 1000, "")]
    # released twice: nothing more
    with transaction.atomic():
        assert services.coupon_release(owner="order:1") == 0
    # and another order can hold it now
    with transaction.atomic():
        services.coupon_hold(public_id=coupon.public_id, user=member, market=kr, owner="order:2", lines=LINES)
    assert _coupon_row(coupon) == ("reserved", 1, "order:2")


def test_another_members_coupon_is_not_found(campaign, kr):
    from apps.coupons.errors import CouponNotFound

    coupon, _ = _claimed(campaign, kr)
    with pytest.raises(CouponNotFound), transaction.atomic():
        services.coupon_hold(
            public_id=coupon.public_id, user=MemberFactory(), market=kr, owner="order:1", lines=LINES
        )
    assert _coupon_row(coupon) == ("issued", 1, "")


def _paid(coupon: Coupon, member, kr, owner: str = "order:1") -> None:
    with transaction.atomic():
        services.coupon_hold(public_id=coupon.public_id, user=member, market=kr, owner=owner, lines=LINES)
        services.coupon_use(owner=owner, order_number="J-0001")


def test_a_used_coupon_is_restored_while_its_campaign_runs(campaign, kr):
    coupon, member = _claimed(campaign, kr)
    _paid(coupon, member, kr)
    with transaction.atomic():
        assert services.coupon_restore(owner="order:1") == 1
    assert _coupon_row(coupon) == ("issued", 1, "")
    assert _uses(coupon) == [("order:1", "restored", 1000, "J-0001")]
    # restoring again changes nothing
    with transaction.atomic():
        assert services.coupon_restore(owner="order:1") == 0
    assert _coupon_row(coupon) == ("issued", 1, "")


@pytest.mark.parametrize("how", ["ended", "past_end"])
def test_a_used_coupon_stays_used_after_its_campaign_ended(campaign, kr, marketer, monkeypatch, how):
    coupon, member = _claimed(campaign, kr)
    _paid(coupon, member, kr)
    if how == "ended":
        services.campaign_transition(campaign_id=coupon.campaign_id, to_status="ended", actor=marketer)
    else:
        from apps.core import clock

        ends_at = coupon.campaign.ends_at
        monkeypatch.setattr(clock, "now", lambda: ends_at)
    with transaction.atomic():
        assert services.coupon_restore(owner="order:1") == 0
    assert _coupon_row(coupon) == ("used", 0, "order:1")
    assert _uses(coupon) == [("order:1", "used", 1000, "J-0001")]


def test_restoring_one_orders_use_keeps_another_orders_hold(campaign, kr):
    # given: a 2-use coupon used by order 1, now held by order 2
    coupon, member = _claimed(campaign, kr, uses_per_coupon=2)
    _paid(coupon, member, kr, owner="order:1")
    with transaction.atomic():
        services.coupon_hold(public_id=coupon.public_id, user=member, market=kr, owner="order:2", lines=LINES)
    assert _coupon_row(coupon) == ("reserved", 1, "order:2")
    # when: order 1 is cancelled after payment
    with transaction.atomic():
        assert services.coupon_restore(owner="order:1") == 1
    # then: its use comes back and order 2 still holds the coupon, then uses it
    assert _coupon_row(coupon) == ("reserved", 2, "order:2")
    with transaction.atomic():
        assert len(services.coupon_use(owner="order:2", order_number="J-0002")) == 1
    assert _coupon_row(coupon) == ("issued", 1, "")  # ready again: no order holds it
