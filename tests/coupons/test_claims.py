"""Claims (issue 21): every refusal leaves the campaign, its coupons and the outbox as they
were; an idempotent claim; the coupon's expiry; the coupon.issued event; rejected counts."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import REGISTRY

from apps.core.models import OutboxEvent
from apps.coupons import selectors, services
from apps.coupons.errors import (
    AlreadyClaimed,
    CampaignInactive,
    CampaignNotFound,
    MarketMismatch,
    NotStarted,
    SoldOut,
)
from apps.coupons.models import Coupon
from tests.accounts.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _state(campaign) -> tuple[int, int, int]:
    campaign.refresh_from_db()
    return (
        campaign.issued_count,
        Coupon.objects.filter(campaign=campaign).count(),
        OutboxEvent.objects.filter(type="coupon.issued").count(),
    )


def _claims_total(outcome: str) -> float:
    return sum(
        REGISTRY.get_sample_value("joopang_coupon_claims_total", {"outcome": outcome, "gate": gate}) or 0.0
        for gate in ("yes", "no")
    )


@pytest.mark.parametrize("status", ["draft", "paused", "ended"])
def test_a_campaign_not_running_refuses_and_changes_nothing(campaign, kr, status):
    # given: a campaign in draft, paused or ended
    c = campaign(status=status)
    member = MemberFactory()
    # when / then
    with pytest.raises(CampaignInactive) as exc:
        services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    assert exc.value.code == "coupon.campaign_inactive"
    assert _state(c) == (0, 0, 0)


def test_a_campaign_past_its_end_refuses(campaign, kr, frozen):
    c = campaign(starts_at=frozen - dt.timedelta(days=3), ends_at=frozen - dt.timedelta(seconds=1))
    with pytest.raises(CampaignInactive):
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    assert _state(c) == (0, 0, 0)


def test_a_campaign_not_started_refuses_with_its_start_in_the_market_zone(campaign, kr, frozen):
    # given: claiming opens tomorrow 09:00 Seoul time (00:00 UTC)
    c = campaign(
        starts_at=dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC), ends_at=frozen + dt.timedelta(days=7)
    )
    # when / then
    with pytest.raises(NotStarted) as exc:
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    assert exc.value.code == "coupon.not_started"
    assert exc.value.params["starts_at"] == "Mar 3, 2026, 9:00 AM KST"
    assert _state(c) == (0, 0, 0)


def test_a_campaign_of_another_market_refuses(campaign, us):
    c = campaign()  # KR only
    with pytest.raises(MarketMismatch) as exc:
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(market_id="US"), market=us)
    assert exc.value.params["market"] == "US"
    assert _state(c) == (0, 0, 0)


def test_an_unknown_campaign_refuses(kr, db):
    before = (Coupon.objects.count(), OutboxEvent.objects.count())
    with pytest.raises(CampaignNotFound) as exc:
        services.coupon_claim(campaign_id=999_999, user=MemberFactory(), market=kr)
    assert exc.value.params["campaign"] == "999999"
    assert (Coupon.objects.count(), OutboxEvent.objects.count()) == before


def test_sold_out_refuses_the_next_member_and_changes_nothing(campaign, kr):
    # given: 2 coupons, both claimed
    c = campaign(total_quantity=2)
    for _ in range(2):
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    assert _state(c) == (2, 2, 2)
    # when / then
    with pytest.raises(SoldOut) as exc:
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    assert exc.value.code == "coupon.sold_out"
    assert _state(c) == (2, 2, 2)
    assert selectors.campaign_stats(c).remaining == 0


@pytest.mark.parametrize("limit", [1, 3])
def test_a_member_claims_up_to_the_limit_then_is_refused(campaign, kr, limit):
    # given: a member who claimed `limit` coupons (seq 1..limit)
    c = campaign(per_user_limit=limit)
    member = MemberFactory()
    coupons = [services.coupon_claim(campaign_id=c.pk, user=member, market=kr) for _ in range(limit)]
    assert [x.seq for x in coupons] == list(range(1, limit + 1))
    assert _state(c) == (limit, limit, limit)
    # when / then: one more is refused and nothing moves
    with pytest.raises(AlreadyClaimed) as exc:
        services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    assert exc.value.params["limit"] == limit
    assert _state(c) == (limit, limit, limit)
    # and another member still gets one
    other = services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    assert other.seq == 1


def test_the_same_idempotency_key_returns_the_same_coupon(campaign, kr):
    c = campaign(per_user_limit=2)
    member = MemberFactory()
    first = services.coupon_claim(campaign_id=c.pk, user=member, market=kr, idempotency_key="k-1")
    again = services.coupon_claim(campaign_id=c.pk, user=member, market=kr, idempotency_key="k-1")
    assert again.pk == first.pk
    assert _state(c) == (1, 1, 1)
    # a new key is a new claim
    second = services.coupon_claim(campaign_id=c.pk, user=member, market=kr, idempotency_key="k-2")
    assert second.seq == 2
    assert _state(c) == (2, 2, 2)
    # the stored key is a hash, never the raw key
    assert first.idempotency_key is not None and first.idempotency_key != "k-1"
    assert len(first.idempotency_key) == 64


def test_another_members_key_does_not_return_someone_elses_coupon(campaign, kr):
    c = campaign()
    mine = services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr, idempotency_key="k")
    theirs = services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr, idempotency_key="k")
    assert theirs.pk != mine.pk
    assert _state(c) == (2, 2, 2)


@pytest.mark.parametrize(
    ("valid_days", "ends_in", "expires_in"),
    [
        (None, dt.timedelta(days=7), dt.timedelta(days=7)),  # until the campaign ends
        (3, dt.timedelta(days=7), dt.timedelta(days=3)),  # N days after the claim
        (7, dt.timedelta(days=7), dt.timedelta(days=7)),  # exactly at the end
        (30, dt.timedelta(days=7), dt.timedelta(days=7)),  # capped at the end
    ],
)
def test_expiry_is_valid_days_after_the_claim_capped_at_the_end(
    campaign, kr, frozen, valid_days, ends_in, expires_in
):
    c = campaign(valid_days=valid_days, starts_at=frozen - dt.timedelta(hours=1), ends_at=frozen + ends_in)
    coupon = services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    assert coupon.expires_at == frozen + expires_in


def test_a_claim_issues_one_coupon_and_its_event(campaign, kr, frozen):
    # given: a 10-coupon campaign of 2 uses per coupon, valid 3 days
    c = campaign(total_quantity=10, uses_per_coupon=2, valid_days=3)
    member = MemberFactory()
    # when
    coupon = services.coupon_claim(campaign_id=c.pk, user=member, market=kr)
    # then
    coupon.refresh_from_db()
    assert (coupon.status, coupon.uses_left, coupon.seq, coupon.claimed_at) == ("issued", 2, 1, frozen)
    assert _state(c) == (1, 1, 1)
    event = OutboxEvent.objects.get(type="coupon.issued")
    assert (event.aggregate_type, event.aggregate_id, event.market) == ("coupon_campaign", str(c.pk), "")
    assert event.payload == {
        "coupon_id": str(coupon.public_id),
        "campaign_id": c.pk,
        "user_id": member.pk,
        "seq": 1,
        "expires_at": "2026-03-05T01:00:00Z",
    }


def test_after_the_campaign_row_is_locked_only_the_coupon_the_event_and_the_commit_follow(campaign, kr):
    """The row lock of the counter's UPDATE is held until commit and every issuing claim
    waits for it: no savepoint, no read, no second try inside it (docs/scaling.md §5)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # given: a running campaign with coupons left, and a member holding none of it
    c = campaign(total_quantity=10)
    # when
    with CaptureQueriesContext(connection) as queries:
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    # then: the counter's UPDATE is followed by one INSERT of the coupon (a taken number is
    # not an error to catch) and the outbox's statements
    sql = [q["sql"] for q in queries.captured_queries]
    locked = next(i for i, s in enumerate(sql) if s.startswith('UPDATE "coupons_campaign"'))
    end = next(i for i, s in enumerate(sql) if i > locked and s.startswith("RELEASE SAVEPOINT"))
    after = sql[locked + 1 : end]  # in a test's transaction, that RELEASE is the claim's commit
    assert after[0].startswith(("INSERT INTO", "INSERT OR IGNORE INTO")) and '"coupons_coupon"' in after[0]
    assert "ON CONFLICT DO NOTHING" in after[0] or after[0].startswith("INSERT OR IGNORE")  # SQLite's
    assert all("core_outboxevent" in s for s in after[1:]), after
    assert not any("SAVEPOINT" in s for s in after)
    # and before it, the campaign and the member's coupons were read in one statement
    read = sql[locked - 1]
    assert read.startswith('SELECT "coupons_campaign"') and 'FROM "coupons_coupon"' in read, read
    assert not any(s.startswith('SELECT COUNT(*) AS "__count" FROM "coupons_coupon"') for s in sql)
    assert _state(c)[:2] == (1, 1)


def test_a_campaign_read_sold_out_refuses_without_waiting_for_its_row(campaign, kr):
    """Without the Redis gate every refused claim reaches the database: one read of a sold-out
    campaign refuses it, without queueing for the row's lock behind the claims that issue."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.core import clock
    from apps.coupons.services.claims import _claim_in_database

    # given: a sold-out campaign
    c = campaign(total_quantity=1)
    services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    member = MemberFactory()
    # when: a claim reaches the database (as when Redis is down)
    with CaptureQueriesContext(connection) as queries, pytest.raises(SoldOut):
        _claim_in_database(campaign_id=c.pk, user=member, key_hash=None, now=clock.now())
    # then: no UPDATE of the campaign was tried, and nothing changed
    assert not any(q["sql"].startswith("UPDATE") for q in queries.captured_queries)
    assert _state(c) == (1, 1, 1)


def test_refusals_are_counted_by_reason_in_the_stats_and_prometheus(campaign, kr, us):
    # given: a 1-coupon campaign in KR
    c = campaign(total_quantity=1)
    first, second = MemberFactory(), MemberFactory()
    before = {
        o: _claims_total(o)
        for o in ("issued", "coupon.sold_out", "coupon.already_claimed", "coupon.market_mismatch")
    }
    # when: one claim issues, then two sold out, one duplicate, one wrong market
    services.coupon_claim(campaign_id=c.pk, user=first, market=kr)
    for user in (second, MemberFactory()):
        with pytest.raises(SoldOut):
            services.coupon_claim(campaign_id=c.pk, user=user, market=kr)
    with pytest.raises(AlreadyClaimed):
        services.coupon_claim(campaign_id=c.pk, user=first, market=kr)
    with pytest.raises(MarketMismatch):
        services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=us)
    # then
    c.refresh_from_db()
    stats = selectors.campaign_stats(c)
    assert stats.claims_rejected == {
        "coupon.sold_out": 2,
        "coupon.already_claimed": 1,
        "coupon.market_mismatch": 1,
    }
    assert (stats.total, stats.issued, stats.remaining) == (1, 1, 0)
    assert {o: _claims_total(o) - n for o, n in before.items()} == {
        "issued": 1.0,
        "coupon.sold_out": 2.0,
        "coupon.already_claimed": 1.0,
        "coupon.market_mismatch": 1.0,
    }
