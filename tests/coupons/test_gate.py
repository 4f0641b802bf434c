"""The Redis gate in front of claims (issue 21): primed by the first claim, answers sold-out
and duplicate claims without the database, heals when the database disagrees, is rebuilt
after a flush, and is simply absent when Redis is unreachable."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches

from apps.core.models import OutboxEvent
from apps.coupons import services
from apps.coupons.errors import AlreadyClaimed, SoldOut
from apps.coupons.models import Campaign, Coupon
from apps.coupons.services import gate
from tests.accounts.factories import MemberFactory
from tests.coupons.conftest import redis_caches

pytestmark = pytest.mark.django_db


def _gate(cache: Any, campaign_id: int) -> tuple[int | None, dict[int, int]]:
    """(remaining, {user_id: claims}) as the gate holds them; remaining None: not primed."""
    client = cache._cache.get_client()
    remaining_key, claims_key, primed_key = (cache.make_key(k) for k in gate._keys(campaign_id))
    if not client.exists(primed_key):
        return None, {}
    claims = {int(k): int(v) for k, v in client.hgetall(claims_key).items()}
    return int(client.get(remaining_key)), claims


def _issued(campaign: Campaign) -> tuple[int, int, int]:
    campaign.refresh_from_db()
    return (
        campaign.issued_count,
        Coupon.objects.filter(campaign=campaign).count(),
        OutboxEvent.objects.filter(type="coupon.issued", aggregate_id=str(campaign.pk)).count(),
    )


def test_the_first_claim_primes_the_gate_from_the_database(redis_cache, campaign, kr):
    # given: a 5-coupon campaign and no gate yet
    c = campaign(total_quantity=5, per_user_limit=2)
    member = MemberFactory()
    assert _gate(redis_cache, c.pk) == (None, {})
    # when: the first claim (the gate unprimed: the database decides, then primes)
    services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    # then
    assert _gate(redis_cache, c.pk) == (4, {member.pk: 1})
    # and the next claim goes through the gate
    services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    assert _gate(redis_cache, c.pk) == (3, {member.pk: 2})
    assert _issued(c) == (2, 2, 2)


def test_a_sold_out_claim_is_answered_without_the_database(
    redis_cache, campaign, kr, django_assert_num_queries
):
    # given: both coupons claimed
    c = campaign(total_quantity=2)
    for _ in range(2):
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    late = MemberFactory()
    # when / then: the rules from the cache, the answer from the gate: no query
    with django_assert_num_queries(0), pytest.raises(SoldOut):
        services.coupon_claim(campaign_id=c.pk, user=late, market=kr)
    assert _issued(c) == (2, 2, 2)
    assert _gate(redis_cache, c.pk)[0] == 0


def test_a_duplicate_claim_is_answered_without_the_database(
    redis_cache, campaign, kr, django_assert_num_queries
):
    c = campaign(total_quantity=10)
    member = MemberFactory()
    services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    with django_assert_num_queries(0), pytest.raises(AlreadyClaimed) as exc:
        services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    assert exc.value.params["limit"] == 1
    assert _issued(c) == (1, 1, 1)
    assert _gate(redis_cache, c.pk) == (9, {member.pk: 1})


def test_a_database_sold_out_after_the_gate_said_yes_sets_the_gate_to_zero(
    redis_cache, campaign, kr, django_assert_num_queries
):
    # given: a primed gate that believes 4 are left while the database has none
    c = campaign(total_quantity=5)
    services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    Campaign.objects.filter(pk=c.pk).update(issued_count=5)
    assert _gate(redis_cache, c.pk)[0] == 4
    # when: the gate lets a claim through, the database refuses
    with pytest.raises(SoldOut):
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    # then: the gate healed, and the next claim never reaches the database
    assert _gate(redis_cache, c.pk)[0] == 0
    late = MemberFactory()
    with django_assert_num_queries(0), pytest.raises(SoldOut):
        services.coupon_claim(campaign_id=c.pk, user=late, market=kr)
    c.refresh_from_db()
    assert (c.issued_count, Coupon.objects.filter(campaign=c).count()) == (5, 1)


def test_a_database_already_claimed_after_the_gate_said_yes_sets_the_members_count(
    redis_cache, campaign, kr, django_assert_num_queries
):
    # given: a primed gate; the member's coupon was issued behind the gate's back
    c = campaign(total_quantity=10)
    services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    member = MemberFactory()
    Coupon.objects.create(
        campaign=c, user=member, seq=1, uses_left=1, expires_at=c.ends_at, claimed_at=c.starts_at
    )
    Campaign.objects.filter(pk=c.pk).update(issued_count=2)
    assert _gate(redis_cache, c.pk)[1].get(member.pk) is None
    # when
    with pytest.raises(AlreadyClaimed):
        services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    # then: the gate holds the member's count from the database, and gave the slot back
    # (it cannot tell a stale gate from a race; too many left only costs a database trip)
    assert _gate(redis_cache, c.pk) == (9, {c.coupons.exclude(user=member).get().user_id: 1, member.pk: 1})
    with django_assert_num_queries(0), pytest.raises(AlreadyClaimed):
        services.coupon_claim(campaign_id=c.pk, user=member, market=kr)


def test_a_flush_mid_sale_rebuilds_the_gate_and_the_sale_ends_with_exactly_n(redis_cache, campaign, kr):
    # given: 5 coupons, 2 claimed through a primed gate
    c = campaign(total_quantity=5)
    early = [MemberFactory() for _ in range(2)]
    for member in early:
        services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    # when: Redis is flushed (rules, gate, counters gone), and 6 more members and the early
    # ones try again
    redis_cache.clear()
    assert _gate(redis_cache, c.pk) == (None, {})
    outcomes = []
    for member in [*[MemberFactory() for _ in range(6)], *early]:
        try:
            services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
            outcomes.append("issued")
        except (SoldOut, AlreadyClaimed) as exc:
            outcomes.append(exc.code)
    # then: exactly 5, nobody twice, and the gate rebuilt from the database (it knows the
    # early members' coupons from before the flush)
    assert outcomes == ["issued"] * 3 + ["coupon.sold_out"] * 3 + ["coupon.already_claimed"] * 2
    assert _issued(c) == (5, 5, 5)
    remaining, claims = _gate(redis_cache, c.pk)
    assert remaining == 0
    assert sorted(claims.values()) == [1, 1, 1, 1, 1]
    assert {m.pk for m in early} <= set(claims)


def test_redis_unreachable_claims_still_work_on_the_database(settings, campaign, kr):
    # given: the cache points at a port where nothing listens
    settings.CACHES = redis_caches("redis://127.0.0.1:1/0")
    assert gate.claim(campaign_id=1, user_id=1, per_user_limit=1, limited=True) == gate.NO_GATE
    c = campaign(total_quantity=2)
    member = MemberFactory()
    # when / then: issued, duplicate and sold out are decided by the database alone
    services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    with pytest.raises(AlreadyClaimed):
        services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    with pytest.raises(SoldOut):
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    assert _issued(c) == (2, 2, 2)
    assert caches["default"].__class__.__name__ == "JoopangRedisCache"
