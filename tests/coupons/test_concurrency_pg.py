"""A flash sale across OS processes on PostgreSQL (issue 21 "Show"): N coupons, 200+ members
in 16 processes, some members pressing "claim" in two or three processes at once. Exactly N
coupons, nobody over the per-member limit, N coupon.issued events — without Redis (each
process its own local cache: the database alone decides), with the Redis gate shared by all
processes, and with Redis flushed in the middle of the sale. Skipped on SQLite."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from django.core.cache import caches

from apps.accounts.models import User
from apps.core.models import OutboxEvent
from apps.coupons import selectors, services
from apps.coupons.errors import AlreadyClaimed, SoldOut
from apps.coupons.models import Campaign, Coupon
from apps.markets.models import Market
from tests.coupons.conftest import locmem_caches, redis_caches, redis_location
from tests.coupons.factories import active_campaign
from tests.utils.processes import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

N = 50
PROCESSES = 16
MEMBERS = 220
TWICE = 32  # members who press "claim" in several processes at once


def _claim_all(campaign_id: int, user_ids: list[int], pause: float) -> list[tuple[int, str]]:
    """One process: claim for each member in turn. Returns (user_id, outcome) per attempt."""
    market = Market.objects.get(code="KR")
    users = User.objects.in_bulk(user_ids)
    out = []
    for user_id in user_ids:
        try:
            services.coupon_claim(campaign_id=campaign_id, user=users[user_id], market=market)
            out.append((user_id, "issued"))
        except (SoldOut, AlreadyClaimed) as exc:
            out.append((user_id, exc.code))
        if pause:
            time.sleep(pause)
    return out


def _flush_mid_sale(campaign_id: int, at: list[int], timeout: float) -> list[tuple[int, str]]:
    """The flusher: FLUSHDB each time the sale has issued ``at[i]`` coupons. Returns
    (issued_count seen at the flush, "flushed") per flush."""
    out = []
    deadline = time.monotonic() + timeout
    for mark in at:
        while time.monotonic() < deadline:
            issued = Campaign.objects.values_list("issued_count", flat=True).get(pk=campaign_id)
            if issued >= mark:
                caches["default"].clear()
                out.append((issued, "flushed"))
                break
            time.sleep(0.002)
    return out


def _members(count: int) -> list[int]:
    User.objects.bulk_create(
        [User(email=f"flash{i}@example.test", name=f"Flash {i}", market_id="KR") for i in range(count)]
    )
    return list(User.objects.filter(email__startswith="flash").order_by("pk").values_list("pk", flat=True))


def _plan(members: list[int], copies: int, seed: int) -> list[list[int]]:
    """Per process, the members it claims for: TWICE members each in ``copies`` processes
    at the head of their lists (so their claims race), the others once, shuffled."""
    rng = random.Random(seed)
    heads: list[list[int]] = [[] for _ in range(PROCESSES)]
    for k, member in enumerate(members[:TWICE]):
        for c in range(copies):
            heads[(k + c) % PROCESSES].append(member)
    rest = members[TWICE:]
    rng.shuffle(rest)
    return [heads[p] + rest[p::PROCESSES] for p in range(PROCESSES)]


def _assert_exactly_n(campaign: Campaign, results: list[tuple[int, str]], limit: int) -> None:
    campaign.refresh_from_db()
    coupons = list(Coupon.objects.filter(campaign=campaign).values_list("user_id", "seq", "public_id"))
    outcomes = Counter(outcome for _, outcome in results)
    # exactly N, by every count
    assert campaign.issued_count == N
    assert len(coupons) == N
    assert outcomes["issued"] == N
    assert set(outcomes) <= {"issued", "coupon.sold_out", "coupon.already_claimed"}
    # nobody above the limit; each member's coupons numbered 1..n
    per_member = Counter(user_id for user_id, _, _ in coupons)
    assert max(per_member.values()) <= limit
    for user_id, n in per_member.items():
        assert sorted(seq for u, seq, _ in coupons if u == user_id) == list(range(1, n + 1))
    # the callers told "issued" are exactly the coupons' owners
    assert Counter(u for u, outcome in results if outcome == "issued") == per_member
    # one coupon.issued per coupon
    events = list(OutboxEvent.objects.filter(type="coupon.issued").values_list("payload", flat=True))
    assert len(events) == N
    assert sorted(e["coupon_id"] for e in events) == sorted(str(p) for _, _, p in coupons)


def _sale(
    settings: Any, marketer_email: str, cache_settings: dict[str, Any], limit: int
) -> tuple[Campaign, list[int]]:
    from tests.accounts.factories import staff

    settings.CACHES = cache_settings
    caches["default"].clear()
    campaign = active_campaign(
        actor=staff("marketing_manager", email=marketer_email), total_quantity=N, per_user_limit=limit
    )
    return campaign, _members(MEMBERS)


@pytest.mark.parametrize("limit", [1, 2])
def test_flash_sale_without_redis_issues_exactly_n(require_postgres, settings, limit):
    # given: 50 coupons, 220 members in 16 processes, 32 of them in 2 (limit 1) or 3 (limit 2)
    # processes at once; each process its own local cache (no gate)
    campaign, members = _sale(settings, "m1@staff.test", locmem_caches(), limit)
    plan = _plan(members, copies=limit + 1, seed=limit)
    # when
    results = [r for rs in run_concurrently(_claim_all, [(campaign.pk, ids, 0) for ids in plan]) for r in rs]
    # then
    assert len(results) == MEMBERS + TWICE * limit
    _assert_exactly_n(campaign, results, limit)


@pytest.mark.parametrize("limit", [1, 2])
def test_flash_sale_with_the_redis_gate_issues_exactly_n(require_postgres, settings, limit):
    # given: the same sale, every process on one Redis db (set before forking)
    _redis_or_skip()
    campaign, members = _sale(settings, "m2@staff.test", redis_caches(redis_location()), limit)
    plan = _plan(members, copies=limit + 1, seed=10 + limit)
    # when
    results = [r for rs in run_concurrently(_claim_all, [(campaign.pk, ids, 0) for ids in plan]) for r in rs]
    # then
    _assert_exactly_n(campaign, results, limit)
    # the gate ends at 0 and every refusal was counted in the shared Redis
    remaining = (
        caches["default"]
        ._cache.get_client()
        .get(caches["default"].make_key(f"coupons:gate:{campaign.pk}:remaining"))
    )
    assert int(remaining) == 0
    refused = Counter(outcome for _, outcome in results if outcome != "issued")
    assert selectors.campaign_stats(campaign).claims_rejected == dict(refused)
    caches["default"].clear()


def test_flash_sale_with_redis_flushed_mid_sale_still_issues_exactly_n(require_postgres, settings):
    # given: the Redis sale, and a 17th process that flushes the Redis db at 10 and at 30 coupons
    _redis_or_skip()
    campaign, members = _sale(settings, "m3@staff.test", redis_caches(redis_location()), 1)
    plan = _plan(members, copies=2, seed=99)
    # when (claims paced a little so the sale lasts long enough to be flushed in the middle)
    args: list[tuple[Any, ...]] = [(campaign.pk, ids, 0.003) for ids in plan]
    results = run_concurrently(
        _dispatch, [("claim", a) for a in args] + [("flush", (campaign.pk, [10, 30], 60))]
    )
    flushes = [r for rs in results for r in rs if r[1] == "flushed"]
    claims = [r for rs in results for r in rs if r[1] != "flushed"]
    # then: the flushes happened mid-sale, and the sale still ended with exactly N
    assert [issued < N for issued, _ in flushes] == [True, True]
    _assert_exactly_n(campaign, claims, 1)
    caches["default"].clear()


def _dispatch(kind: str, args: tuple[Any, ...]) -> list[tuple[int, str]]:
    return _claim_all(*args) if kind == "claim" else _flush_mid_sale(*args)


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(redis_location(), socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001
        pytest.skip("Redis not reachable")


def test_a_member_claiming_up_to_the_limit_in_many_processes_at_once_gets_them_all(
    require_postgres, settings
):
    # given: an unlimited campaign of 8 coupons per member; no gate
    campaign, members = _sale(settings, "m4@staff.test", locmem_caches(), 8)
    member = members[0]
    # when: 8 processes claim for the same member at the same moment, twice each
    results = [
        r
        for rs in run_concurrently(_claim_all, [(campaign.pk, [member, member], 0) for _ in range(8)])
        for r in rs
    ]
    # then: 8 coupons (seq 1..8), and only the 8 attempts past the limit refused
    assert Counter(outcome for _, outcome in results) == {"issued": 8, "coupon.already_claimed": 8}
    assert sorted(Coupon.objects.filter(campaign=campaign).values_list("seq", flat=True)) == list(range(1, 9))
    campaign.refresh_from_db()
    assert campaign.issued_count == 8
