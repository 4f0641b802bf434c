"""Coupon issuance against PostgreSQL's own limit (issue 25 item 3): the ``coupon_issue``
scenario (every claim issues), the harness's check (no over-issuance, issued/s against
pgbench's hot-row claims/s) and the pgbench measurement on scratch tables."""

from __future__ import annotations

import pytest
from django.db import connection

from bench import scenarios
from bench.report import build_report, render_markdown
from bench.scenarios import REGISTRY, Context
from bench.stats import summarize


@pytest.fixture
def few_members(monkeypatch):
    monkeypatch.setattr(scenarios, "FLASH_MEMBERS", 12)
    monkeypatch.setattr(scenarios, "_flash_members", [])


@pytest.mark.django_db
def test_each_client_claims_for_its_own_members_on_a_campaign_that_never_runs_out(few_members):
    from apps.accounts.tokens import access_claims_verify
    from apps.coupons.models import Campaign

    # when
    load = REGISTRY["coupon_issue"].build(Context(clients=4))
    # then: 4 clients x 3 members each, disjoint, each member's claims on one connection
    campaign = Campaign.objects.get(pk=load.facts["campaign_id"])
    assert (campaign.status, campaign.total_quantity, campaign.per_user_limit) == ("active", 1_000_000, 100)
    assert load.facts == {
        "kind": "coupon_issue",
        "campaign_id": campaign.pk,
        "coupons": 1_000_000,
        "per_user_limit": 100,
    }
    owners = [
        {
            access_claims_verify(h["Authorization"].removeprefix("Bearer "))["user_id"]
            for h in c.request_headers
        }
        for c in load.clients
    ]
    assert [len(o) for o in owners] == [3, 3, 3, 3]
    assert len(set().union(*owners)) == 12
    assert {p for c in load.clients for p in c.paths} == {f"/api/v1/coupons/campaigns/{campaign.pk}/claim"}
    # a steady load (warm-up, then the window), no preflight claim, and 409 is an error here
    assert (load.once, load.preflight, load.ok_statuses) == (False, False, ())
    assert REGISTRY["coupon_issue"].method == "POST" and REGISTRY["coupon_issue"].p95_target_ms == 400


@pytest.mark.django_db
def test_the_check_compares_issued_coupons_with_pgbench_and_catches_over_issuance(few_members, monkeypatch):
    from django.db import connections

    from apps.accounts.models import User
    from apps.coupons.models import Campaign
    from apps.coupons.services import coupon_claim
    from apps.markets.models import Market
    from bench.run import coupon_issue_check, coupon_issue_note

    monkeypatch.setattr(connections, "close_all", lambda: None)
    load = REGISTRY["coupon_issue"].build(Context(clients=4))
    kr = Market.objects.get(code="KR")
    for member in User.objects.filter(email__startswith="bench-flash-").order_by("pk")[:3]:
        coupon_claim(campaign_id=load.facts["campaign_id"], user=member, market=kr)
    result = {"duration_s": 2.0, "statuses": {"201": 3}, "warmup_requests": 0}
    limit = {
        "tps": 2.0,
        "clients": 32,
        "duration_s": 20,
        "issued_count": 40,
        "coupon_rows": 40,
        "exact": True,
    }
    # when: 3 coupons in 2 s = 1.5/s against pgbench's 2.0/s
    check = coupon_issue_check(load, result, limit)
    # then
    assert (check["issued_count"], check["coupon_rows"], check["answers_201"]) == (3, 3, 3)
    assert check["vs_pgbench"] == 0.75
    assert check["targets"] == {
        "zero over-issuance": True,
        "issued/s ≥ 80% of pgbench's hot-row limit": False,
    }
    note = coupon_issue_note(check)
    assert "2 issued/s = 75% of pgbench 2 claims/s (32 clients, 20 s" in note and "(exact)" in note
    # and: at 1.2/s pgbench, 1.5/s passes
    assert coupon_issue_check(load, result, {**limit, "tps": 1.2})["targets"][
        "issued/s ≥ 80% of pgbench's hot-row limit"
    ]
    # and: more 201 answers than coupon rows, or a counter off its rows, is over-issuance
    assert coupon_issue_check(load, {**result, "statuses": {"201": 4}}, limit)["exact"] is False
    Campaign.objects.filter(pk=load.facts["campaign_id"]).update(issued_count=2)
    bad = coupon_issue_check(load, result, limit)
    assert bad["exact"] is False and bad["targets"]["zero over-issuance"] is False
    assert "OVER- OR UNDER-ISSUED: FAILED" in coupon_issue_note(bad)
    # and without a pgbench figure the target is not met
    assert coupon_issue_check(load, result, {"error": "pgbench not found"})["vs_pgbench"] is None


def test_the_row_shows_the_issuance_targets():
    baseline = summarize(name="baseline", title="b", latencies_ms=[1.0], statuses={"200": 10}, duration_s=1.0)
    row = summarize(
        name="coupon_issue",
        title="c",
        latencies_ms=[1.0],
        statuses={"201": 5},
        duration_s=1.0,
        p95_target_ms=400,
        extra={"targets": {"zero over-issuance": True, "issued/s ≥ 80% of pgbench's hot-row limit": False}},
    )
    markdown = render_markdown(build_report(meta={}, summaries=[baseline, row]))
    assert (
        "| P95 ≤ 400 ms; zero over-issuance; issued/s ≥ 80% of pgbench's hot-row limit "
        "| FAIL: not met: issued/s ≥ 80% of pgbench's hot-row limit |" in markdown
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pgbench_measures_the_hot_row_claim_on_scratch_tables(require_postgres, few_members):
    import shutil

    from apps.coupons.models import Campaign, Coupon
    from bench.run import PGBENCH_CAMPAIGNS, PGBENCH_COUPONS, Config, pgbench_binary, pgbench_hot_row

    if pgbench_binary() is None:
        pytest.skip("pgbench is not installed")
    assert shutil.which("pgbench") or pgbench_binary()
    load = REGISTRY["coupon_issue"].build(Context(clients=2))
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    config = Config(
        database_url=url,
        redis_url="",
        products=0,
        concurrency=2,
        duration_s=1,
        warmup_s=0,
        only=[],
        strict=False,
    )
    # when
    limit = pgbench_hot_row(config, load.facts["campaign_id"])
    # then: claims per second measured, counter = rows, the app's tables untouched
    assert "error" not in limit, limit
    assert limit["tps"] > 0 and limit["clients"] == 2 and limit["failed"] == 0
    assert limit["exact"] is True and limit["issued_count"] == limit["coupon_rows"] > 0
    assert Campaign.objects.get(pk=load.facts["campaign_id"]).issued_count == 0
    assert Coupon.objects.count() == 0
    tables = connection.introspection.table_names()
    assert PGBENCH_CAMPAIGNS not in tables and PGBENCH_COUPONS not in tables
