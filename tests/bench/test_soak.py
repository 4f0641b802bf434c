"""The soak (``bench/soak.py``, ``make soak``).

The load generator's mixed flows and the verdict run anywhere (a local asyncio server, a
made-up report). ``test_a_short_soak_passes_and_reports`` is the CI-size soak: the real thing
(a database of its own, gunicorn, a Celery worker and beat, every flow of the mix, then
``check_invariants``) for 30 s on PostgreSQL + Redis; skipped on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from bench.soak import MIN_EXPECTED, LoadSampler, SoakConfig, SoakRun, render_markdown, step, verdict

BASE_DIR = Path(__file__).resolve().parents[2]


# --- The load generator -------------------------------------------------------------------------


def _serve(answers: dict[bytes, tuple[bytes, bytes]], seen: list[bytes]):
    """A keep-alive server answering each path (the request line's, ``{id}`` filled in) from
    ``answers``: (status line, JSON body)."""

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                path = head.split(b" ")[1]
                seen.append(head)
                status, body = answers.get(path, (b"404 Not Found", b'{"code": "request.not_found"}'))
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\n\r\n" + body
                )  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return handle


def _run(flows: list[dict], answers: dict[bytes, tuple[bytes, bytes]], seen: list[bytes]) -> dict:
    async def scenario():
        server = await asyncio.start_server(_serve(answers, seen), "127.0.0.1", 0)
        spec = {
            "host": "127.0.0.1",
            "port": server.sockets[0].getsockname()[1],
            "paths": [],
            "headers": {"X-Market": "KR"},
            "concurrency": 2,
            "warmup_s": 0.05,
            "duration_s": 0.4,
            "unique_header": "Idempotency-Key",
            "soak": {"clients": [{"flows": flows}], "seed": 3, "window_s": 0.2},
        }
        async with server:
            return await SoakRun(spec).run()

    return asyncio.run(scenario())


def test_flows_use_the_saved_id_their_own_headers_and_fresh_keys():
    # given a checkout-like flow: create (saves id), then act on {id} with another token
    flow = {
        "kind": "refund",
        "weight": 1,
        "steps": [
            step("checkout.create", "POST", "/orders", {"a": 1}, headers={"Authorization": "Bearer m"}, unique=True, save="id"),
            step("order.fulfil", "POST", "/internal/orders/{id}/transitions", headers={"Authorization": "Bearer ops"}),
        ],
    }  # fmt: skip
    seen: list[bytes] = []
    answers = {
        b"/orders": (b"201 Created", b'{"id": "o-1"}'),
        b"/internal/orders/o-1/transitions": (b"200 OK", b"{}"),
    }
    # when
    result = _run([flow], answers, seen)
    # then: both steps answered 2xx every time, with their own token, a fresh key on create only
    assert result["by_label"]["checkout.create"]["statuses"].keys() == {"201"}
    assert result["by_label"]["order.fulfil"]["statuses"].keys() == {"200"}
    assert result["soak"]["iterations"]["refund"]["completed"] > 3
    creates = [h for h in seen if h.startswith(b"POST /orders ")]
    fulfils = [h for h in seen if h.startswith(b"POST /internal/orders/o-1/")]
    assert all(b"Bearer m" in h and b"Idempotency-Key: " in h for h in creates)
    assert all(b"Bearer ops" in h and b"Idempotency-Key" not in h for h in fulfils)
    keys = [h.split(b"Idempotency-Key: ")[1].split(b"\r\n")[0] for h in creates]
    assert len(set(keys)) == len(keys)
    assert sum(w["requests"] for w in result["soak"]["windows"]) == sum(result["statuses"].values())


def test_an_expected_refusal_is_not_an_error_and_anything_else_is():
    # given a sold-out claim (expected), a claim refused for another reason, and a 500
    flows = [
        {"kind": "claim", "weight": 1, "steps": [step("coupon.claim", "POST", "/sold")]},
        {"kind": "claim", "weight": 1, "steps": [step("coupon.claim", "POST", "/inactive")]},
        {"kind": "browse", "weight": 1, "steps": [step("web.home", "GET", "/boom"), step("web.category", "GET", "/c")]},
    ]  # fmt: skip
    answers = {
        b"/sold": (b"409 Conflict", b'{"code": "coupon.sold_out"}'),
        b"/inactive": (b"409 Conflict", b'{"code": "coupon.campaign_inactive"}'),
        b"/boom": (b"500 Internal Server Error", b'{"code": "server.error"}'),
        b"/c": (b"200 OK", b"{}"),
    }
    # when
    result = _run(flows, answers, [])
    soak = result["soak"]
    # then: only the sold-out answers are expected; the 500 ended its iteration before /c
    assert soak["expected"]["coupon.claim"] == soak["answers"]["coupon.claim"]["409:coupon.sold_out"] > 0
    assert (
        soak["unexpected"]["coupon.claim"]
        == soak["answers"]["coupon.claim"]["409:coupon.campaign_inactive"]
        > 0
    )
    assert soak["unexpected"]["web.home"] == soak["answers"]["web.home"]["500:server.error"] > 0
    assert "web.category" not in result["by_label"]
    assert soak["iterations"]["claim"]["refused"] > 0 and soak["iterations"]["claim"]["failed"] > 0
    assert soak["iterations"]["browse"].get("completed", 0) == 0
    assert soak["samples"]["web.home"][0]["status"] == 500
    assert sum(w["errors"] for w in soak["windows"]) == sum(soak["unexpected"].values())  # fmt: skip


# --- The verdict and the report -----------------------------------------------------------------


def _config(**changes) -> SoakConfig:
    config = SoakConfig(
        database_url="postgres://x/joopang_bench_soak",
        redis_url="redis://x/14",
        products=100,
        connections=4,
        seconds=60,
        warmup_s=1,
        coupons=10,
        max_error_rate=0.005,
        mix={"browse": 50, "claim": 50},
        window_s=30,
        drain_s=10,
        outbox_horizon_s=60,
        results_dir=Path("/nonexistent"),
        tag="",
        workers=2,
    )
    for name, value in changes.items():
        setattr(config, name, value)
    return config


def _report(*, errors: int = 0, requests: int = 1000, breaches: list | None = None, iterations=None) -> dict:
    label = {
        "label": "web.home",
        "request": "GET /",
        "requests": requests,
        "rps": requests / 60,
        "p50_ms": 10.0,
        "p95_ms": 20.0,
        "p99_ms": 30.0,
        "max_ms": 40.0,
        "statuses": {"200": requests - errors, "500": errors} if errors else {"200": requests},
        "answers": {"500:": errors} if errors else {},
        "expected": 0,
        "errors": errors,
        "error_rate": errors / requests,
        "samples": [{"path": "/", "status": 500, "detail": "boom"}] if errors else [],
    }
    breaches = breaches or []
    return {
        "meta": {
            "started_at": "2026-11-30T13:00:00+00:00",
            "finished_at": "2026-11-30T13:02:00+00:00",
            "git_commit": "abc1234",
            "cpu_count": 2,
            "cpu_model": "AMD EPYC",
            "loadavg_start": "1.0 1.0 1.0",
            "loadavg_during": {"min": 1.5, "mean": 2.0, "max": 2.5, "samples": 6},
            "loadavg_end": "2.0 1.5 1.0",
            "server": "gunicorn",
            "database": "PostgreSQL",
            "dataset": {"products": 100, "skus": 200, "categories": 23},
            "traffic": {"members": 4, "skus_of_members": 8, "claimers": 160, "coupons": 10},
            "connections": 4,
            "duration_s": 60,
            "warmup_s": 1,
            "mix": {"browse": 50, "claim": 50},
            "max_error_rate": 0.005,
            "outbox_horizon_s": 60,
            "label_floor": 200,
        },
        "totals": {
            "requests": requests,
            "rps": requests / 60,
            "errors": errors,
            "error_rate": errors / requests,
            "expected": 0,
            "p50_ms": 10.0,
            "p95_ms": 20.0,
            "p99_ms": 30.0,
        },
        "labels": [label],
        "iterations": iterations
        if iterations is not None
        else {"browse": {"completed": 500}, "claim": {"refused": 500}},
        "window_s": 30,
        "windows": [
            {"index": 0, "requests": 500, "errors": 0, "p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0},
            {"index": 1, "requests": 500, "errors": errors, "p50_ms": 10.0, "p95_ms": 22.0, "p99_ms": 30.0, "loadavg": 2.04, "others": 0.25},
        ],
        "drift": {"rps_ratio": 1.0, "p95_ratio": 1.1},
        "cpu": {"gunicorn": 60.0, "postgres": 20.0, "celery": 5.0, "loadgen": 5.0, "harness": 1.0, "busy": 110.0, "total": 120.0},
        "memory_mb": {"start": {"gunicorn": 500.0, "celery": 300.0}, "end": {"gunicorn": 510.0, "celery": 305.0}},
        "data": {"orders": {"paid": 3}, "wallet_entries": {"payment": 3}, "campaign": {"total_quantity": 10, "issued_count": 10, "coupon_rows": 10}},
        "outbox": {"counts": {"delivered": 9}, "drain_seconds": 0.0, "receiver": {"distinct": 9, "duplicates": 0, "rejected": 0}},
        "invariants": {
            "exit_code": 1 if breaches else 0,
            "clean": not breaches,
            "checked": 16,
            "breaches": breaches,
            "passed": [f"app.rule_{i}" for i in range(16 - len(breaches))],
        },
        "notes": ["checkout check: fine"],
        "preflight": [],
    }  # fmt: skip


def test_a_clean_soak_passes_and_its_report_says_so():
    report = _report()
    assert verdict(_config(), report) == []
    report["failures"], report["passed"] = [], True
    text = render_markdown(report)
    assert text.startswith("# Joopang soak 2026-11-30T13:00:00+00:00: PASSED")
    assert "**16 of 16 hold**" in text
    assert "**0 of 1,000 (0.000%)**" in text
    assert "| web.home | GET / | 16.7 | 10.0 | 20.0 | 30.0 | 40.0 | 1,000 | 0 | 0 (0.00%) |" in text
    assert "| 30–60 s | 16.7 | 10.0 | 22.0 | 30.0 | 0 | 2.0 | 25% |" in text
    assert "| 0–30 s | 16.7 | 10.0 | 20.0 | 30.0 | 0 | – | – |" in text
    assert "| browse | 50 | 500 | 8.33 | 0 | 0 | 0 |" in text
    assert "| claim | 50 | 0 | 0.00 | 500 | 0 | 0 |" in text
    assert "**other processes 16%**" in text  # 110 busy - 91 ours, of 120
    assert "flash sale: 10 issued of 10" in text


def test_a_breach_or_too_many_errors_fails_the_soak():
    breach = {
        "name": "payments.wallet_balance_matches_ledger",
        "count": 1,
        "description": "d",
        "examples": ["7"],
    }
    assert verdict(_config(), _report(breaches=[breach])) == [
        "check_invariants exited 1: payments.wallet_balance_matches_ledger"
    ]
    # 6 of 1,000 is above 0.5 %, over the run and in the label
    failures = verdict(_config(), _report(errors=6))
    assert failures == [
        "unexpected errors 6 of 1000 (0.60%) > 0.50%",
        "web.home: unexpected errors 6 of 1000 (0.60%)",
    ]
    # 5 of 1,000 is not above it
    assert verdict(_config(), _report(errors=5)) == []
    report = _report(errors=6)
    report["failures"], report["passed"] = failures, False
    text = render_markdown(report)
    assert ": FAILED" in text.splitlines()[0]
    assert "- **FAILED**: unexpected errors 6 of 1000" in text
    assert "`web.home` 500 /: 'boom'" in text


def test_a_flow_that_never_worked_fails_when_the_mix_should_have_run_it():
    never = {"browse": {"completed": 500}, "claim": {"failed": 40}}
    assert verdict(_config(), _report(iterations=never)) == [
        "flow claim: no iteration ran without an unexpected error ({'failed': 40})"
    ]
    # too few iterations in all for the mix to promise one: chance, not a failure
    few = {"browse": {"completed": 2 * MIN_EXPECTED - 2}}
    assert verdict(_config(), _report(iterations=few)) == []
    report = _report()
    report["preflight"] = ["refund: POST /api/v1/orders/1/refunds answered 409: ..."]
    assert verdict(_config(), report) == [
        "preflight: refund: POST /api/v1/orders/1/refunds answered 409: ..."
    ]


def test_the_sampler_splits_the_machine_by_window():
    # given samples every 10 s: (time, load average, machine busy s, machine total s, ours s)
    sampler = LoadSampler()
    sampler.samples = [
        (100.0, 1.0, 0.0, 0.0, 0.0),
        (110.0, 3.0, 20.0, 20.0, 5.0),  # 0-10 s: busy 20 of 20, ours 5 -> others 75 %
        (120.0, 5.0, 30.0, 40.0, 15.0),  # 10-20 s: busy 10 of 20, ours 10 -> others 0 %
        (130.0, 7.0, 40.0, 60.0, 20.0),  # 20-30 s: busy 10 of 20, ours 5 -> others 25 %
    ]
    # when the windows are 20 s
    windows = sampler.windows(20)
    # then each window sums its intervals
    assert windows[0] == {"loadavg": 2.0, "machine_busy": 0.75, "others": 0.375}
    assert windows[1] == {"loadavg": 5.0, "machine_busy": 0.5, "others": 0.25}


def test_soak_mix_reads_weights_and_refuses_unknown_flows(monkeypatch):
    monkeypatch.setenv("SOAK_MIX", "browse=5, claim=0")
    monkeypatch.setenv("SOAK_SECONDS", "45")
    config = SoakConfig.from_env()
    assert config.mix["browse"] == 5 and "claim" not in config.mix
    assert config.window_s == 5  # a tenth of the run, at least 5 s
    monkeypatch.setenv("SOAK_MIX", "teleport=1")
    from bench.run import BenchError

    with pytest.raises(BenchError, match="unknown flow 'teleport'"):
        SoakConfig.from_env()


# --- The CI-size soak --------------------------------------------------------------------------


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@pytest.mark.postgres
@pytest.mark.slow
def test_a_short_soak_passes_and_reports(tmp_path):
    """30 s of the whole mix on the real stack: exit 0, every flow answered in the preflight,
    the invariants clean, the report written with its numbers."""
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL and Redis: run with DATABASE_URL=postgres://... REDIS_URL=redis://...")
    database_url = os.environ["DATABASE_URL"]
    name = urlsplit(database_url).path.lstrip("/") or "joopang"
    env = {
        **os.environ,
        "SOAK_DATABASE_URL": _with_path(database_url, f"/{name}_bench_soak"),
        # A Redis database of its own: the soak's worker and beat must not meet the suite's
        # tasks (broker: REDIS_URL's database), nor its cache flushes (xdist worker n: database
        # 1 + n % 15, so 13 is free below 13 workers; SOAK_TEST_REDIS_URL picks another).
        "SOAK_REDIS_URL": os.environ.get("SOAK_TEST_REDIS_URL") or _with_path(os.environ["REDIS_URL"], "/13"),
        "SOAK_SECONDS": os.environ.get("SOAK_TEST_SECONDS", "30"),
        "SOAK_WARMUP": "2",
        "SOAK_CONNECTIONS": "6",
        "SOAK_WORKERS": "2",
        "SOAK_PRODUCTS": "100",
        "SOAK_COUPONS": "1",  # the preflight's claim takes it: the load's claims are sold out
        "SOAK_DRAIN_SECONDS": "60",
        "SOAK_RESULTS_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    for name_ in ("DJANGO_SETTINGS_MODULE", "SOAK_MIX", "SOAK_WINDOW", "SOAK_TAG"):
        env.pop(name_, None)
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, output
    report = json.loads((tmp_path / "soak-latest.json").read_text())
    markdown = (tmp_path / "soak-latest.md").read_text()
    assert report["passed"] and report["failures"] == [] and report["preflight"] == []
    inv = report["invariants"]
    assert inv["exit_code"] == 0 and inv["clean"] and inv["checked"] >= 16 and not inv["breaches"]
    assert report["totals"]["requests"] > 0
    assert report["totals"]["error_rate"] <= 0.005
    campaign = report["data"]["campaign"]
    assert campaign["issued_count"] == campaign["coupon_rows"] == campaign["total_quantity"] == 1
    claims = next((row for row in report["labels"] if row["label"] == "coupon.claim"), None)
    if claims is not None:  # the draw is random: a 30 s run may hold no claim
        assert claims["expected"] == claims["requests"] == sum(claims["answers"].values())
    assert report["outbox"]["counts"].get("pending", 0) == 0
    assert report["outbox"]["receiver"]["distinct"] >= report["outbox"]["counts"]["delivered"] > 0
    assert all(not math.isnan(row["p95_ms"]) for row in report["labels"])
    assert markdown.startswith("# Joopang soak ") and ": PASSED" in markdown.splitlines()[0]
    assert f"**{inv['checked']} of {inv['checked']} hold**" in markdown
    assert "| web.home |" in markdown or "| api.products.detail |" in markdown
    assert list(tmp_path.glob("soak-20*.md")), "the timestamped copy"
