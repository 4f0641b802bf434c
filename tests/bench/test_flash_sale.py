"""The flash-sale benchmark (issue 21 item 8): the scenario's attempts and members, the load
generator's burst mode (each client's list once, a bearer token per request, events with
problem codes), 409 as an answer not an error, and the harness's issued-count check."""

from __future__ import annotations

import asyncio
import json

import pytest

from apps.accounts.tokens import access_claims_verify
from bench import scenarios
from bench.loadgen import Run
from bench.report import build_report, render_markdown
from bench.scenarios import REGISTRY, Context
from bench.stats import summarize


def test_both_flash_sale_scenarios_claim_by_post_at_400_ms_and_one_runs_without_redis():
    assert REGISTRY["flash_sale"].method == "POST" and REGISTRY["flash_sale"].p95_target_ms == 400
    assert REGISTRY["flash_sale"].server_env == {}
    assert REGISTRY["flash_sale_no_redis"].server_env == {"REDIS_URL": ""}
    assert list(REGISTRY)[-3:] == ["flash_sale", "flash_sale_no_redis", "baseline_again"]


@pytest.mark.django_db
def test_the_flash_sale_sends_every_member_at_least_four_times_with_its_own_token(monkeypatch):
    from apps.coupons.models import Campaign

    # given: fewer members and attempts than the real run (same code path)
    monkeypatch.setattr(scenarios, "FLASH_MEMBERS", 50)
    monkeypatch.setattr(scenarios, "FLASH_ATTEMPTS", 200)
    monkeypatch.setattr(scenarios, "_flash_members", [])
    # when
    load = REGISTRY["flash_sale"].build(Context(clients=8))
    # then: 8 clients x 25 attempts, no preflight, a burst with events, 409 an answer
    assert len(load.clients) == 8 and {len(c.paths) for c in load.clients} == {25}
    assert (load.once, load.classify, load.ok_statuses, load.preflight) == (True, True, (409,), False)
    campaign = Campaign.objects.get(pk=load.facts["campaign_id"])
    assert (campaign.status, campaign.total_quantity, campaign.per_user_limit) == ("active", 1000, 1)
    assert load.facts == {
        "kind": "flash_sale",
        "campaign_id": campaign.pk,
        "coupons": 1000,
        "members": 50,
        "attempts": 200,
        "per_user_limit": 1,
    }
    assert {p for c in load.clients for p in c.paths} == {f"/api/v1/coupons/campaigns/{campaign.pk}/claim"}
    tokens = [h["Authorization"].removeprefix("Bearer ") for c in load.clients for h in c.request_headers]
    claims = [access_claims_verify(t) for t in tokens]
    per_member: dict[int, int] = {}
    for claim in claims:
        per_member[claim["user_id"]] = per_member.get(claim["user_id"], 0) + 1
    assert len(per_member) == 50 and min(per_member.values()) == 4
    assert {(c["roles"][0], c["market"]) for c in claims} == {("member", "KR")}
    spec = load.spec()
    assert spec["once"] is True and spec["warmup_s"] == 0 and spec["classify"] is True


@pytest.mark.django_db
def test_bulk_members_are_members_and_their_token_lets_them_claim(monkeypatch, api_client):
    from apps.accounts.models import User

    monkeypatch.setattr(scenarios, "FLASH_MEMBERS", 3)
    monkeypatch.setattr(scenarios, "FLASH_ATTEMPTS", 6)
    monkeypatch.setattr(scenarios, "_flash_members", [])
    load = REGISTRY["flash_sale"].build(Context(clients=2))
    client = load.clients[0]
    # when: the first attempt sent as the load generator would
    response = api_client.post(
        client.paths[0],
        HTTP_AUTHORIZATION=client.request_headers[0]["Authorization"],
        HTTP_X_MARKET="KR",
    )
    # then
    assert response.status_code == 201, response.content[:300]
    member = User.objects.get(
        pk=access_claims_verify(client.request_headers[0]["Authorization"][7:])["user_id"]
    )
    assert member.has_perm("accounts.shop") and not member.has_usable_password()


def test_a_burst_sends_each_list_once_with_per_request_headers_and_records_codes():
    seen = []

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                token = next(line for line in head.split(b"\r\n") if line.startswith(b"Authorization"))
                seen.append(token.split(b" ")[-1].decode())
                if len(seen) <= 2:
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
                else:
                    body = json.dumps({"code": "coupon.sold_out"}).encode()
                    writer.write(b"HTTP/1.1 409 Conflict\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def scenario():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "paths": [],
            "clients": [
                {
                    "headers": {},
                    "paths": ["/c"] * 3,
                    "request_headers": [{"Authorization": f"Bearer a{i}"} for i in range(3)],
                },
                {
                    "headers": {},
                    "paths": ["/c"] * 2,
                    "request_headers": [{"Authorization": f"Bearer b{i}"} for i in range(2)],
                },
            ],
            "method": "POST",
            "concurrency": 2,
            "warmup_s": 0,
            "duration_s": 30,
            "once": True,
            "classify": True,
        }
        async with server:
            return await Run(spec).run()

    result = asyncio.run(scenario())

    assert sorted(seen) == ["a0", "a1", "a2", "b0", "b1"]
    assert result["statuses"] == {"201": 2, "409": 3}
    assert (
        sorted((e[1], e[2]) for e in result["events"])
        == [(201, ""), (201, "")] + [(409, "coupon.sold_out")] * 3
    )
    assert result["duration_s"] < 5  # the burst's own length, not the 30 s cap


def test_a_409_is_an_answer_when_the_scenario_says_so_and_the_flash_table_shows_the_targets():
    row = summarize(
        name="flash_sale",
        title="t",
        latencies_ms=[10.0, 20.0, 30.0],
        statuses={"201": 1, "409": 2},
        duration_s=1.0,
        p95_target_ms=400,
        ok_statuses=(409,),
    )
    assert row.errors == 0 and row.passed
    check = {
        "name": "flash_sale",
        "attempts": 3,
        "claims_per_s": 3.0,
        "p95_ms": 30.0,
        "p95_created_ms": 10.0,
        "issued_count": 1,
        "coupon_rows": 1,
        "answers_201": 1,
        "coupons": 1,
        "sold_out_at_ms": 10.0,
        "sold_out_per_s": 100.0,
        "sold_out_p95_ms": 30.0,
        "sold_out_vs_baseline": 0.25,
        "targets": {"zero over-issuance": True, "sold-out answers >= 50 % of baseline req/s": False},
    }
    report = build_report(meta={"flash_sales": [check]}, summaries=[row])
    text = render_markdown(report)
    assert report["passed"] is False
    assert "| flash_sale | 3 | 3 | 30.0 | 10.0 | 1 / 1 / 1 of 1 | 10 ms | 100 (30.0 ms) | 25% |" in text
    assert "sold-out answers >= 50 % of baseline req/s: FAIL" in text


@pytest.mark.django_db
def test_the_harness_check_passes_exactly_the_coupons_on_offer_and_fails_loudly_otherwise(monkeypatch):
    from django.db import connections

    from apps.accounts.models import User
    from apps.coupons.models import Campaign
    from apps.coupons.services import coupon_claim
    from apps.markets.models import Market
    from bench.run import flash_note, flash_sale_check

    # the harness closes its connections after a check; the test's transaction needs its own
    monkeypatch.setattr(connections, "close_all", lambda: None)
    monkeypatch.setattr(scenarios, "FLASH_COUPONS", 2)
    monkeypatch.setattr(scenarios, "FLASH_MEMBERS", 3)
    monkeypatch.setattr(scenarios, "FLASH_ATTEMPTS", 6)
    monkeypatch.setattr(scenarios, "_flash_members", [])
    load = REGISTRY["flash_sale"].build(Context(clients=2))
    kr = Market.objects.get(code="KR")
    members = list(User.objects.filter(email__startswith="bench-flash-").order_by("pk"))
    for member in members[:2]:
        coupon_claim(campaign_id=load.facts["campaign_id"], user=member, market=kr)
    # given: what the load generator saw: two coupons, then sold out at 1,000 and 2,000 ms
    result = {
        "duration_s": 3.0,
        "latencies_ms": [5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        "events": [
            [100.0, 201, "", 5.0],
            [200.0, 201, "", 6.0],
            [300.0, 409, "coupon.already_claimed", 7.0],
            [1000.0, 409, "coupon.sold_out", 8.0],
            [2000.0, 409, "coupon.sold_out", 9.0],
            [3000.0, 409, "coupon.sold_out", 10.0],
        ],
    }
    # when
    check = flash_sale_check("flash_sale", load, result, baseline_rps=4.0)
    # then: sold out at 200 ms; 3 sold-out answers in 2.8 s; 1.07/s = 27 % of the baseline
    assert check["exact"] is True and check["passed"] is True
    assert (check["issued_count"], check["coupon_rows"], check["answers_201"]) == (2, 2, 2)
    assert check["sold_out_at_ms"] == 200.0 and check["sold_out_answers_after"] == 3
    assert round(check["sold_out_per_s"], 3) == round(3 / 2.8, 3)
    assert check["answers"] == {"201": 2, "409 coupon.already_claimed": 1, "409 coupon.sold_out": 3}
    assert check["targets"] == {
        "zero over-issuance": True,
        "claim P95 <= 400 ms": True,
        "sold-out answers >= 50 % of baseline req/s": False,
    }
    assert "(exactly 2)" in flash_note(check)
    # and: a counter off its rows is a failure, said loudly (over the quantity, the
    # database's check constraint refuses it before any benchmark could see it)
    Campaign.objects.filter(pk=load.facts["campaign_id"]).update(issued_count=1)
    bad = flash_sale_check("flash_sale_no_redis", load, result, baseline_rps=4.0)
    assert bad["exact"] is False and bad["targets"]["zero over-issuance"] is False
    assert "NOT EXACT: FAILED" in flash_note(bad)
    assert "sold-out answers >= 50 % of baseline req/s" not in bad["targets"]
