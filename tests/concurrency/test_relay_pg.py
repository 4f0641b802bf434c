"""Two relay processes on PostgreSQL over 10,000 events (issue 22 "Show"): every event is
delivered, duplicates are counted and reported (0 expected: no faults, so a batch is never
claimed twice), and each aggregate's events arrive in ``aggregate_sequence`` order even
though the two relays interleave. A second run adds faults (500, timeouts, dropped
connections) and the same checks hold, with duplicates counted."""

from __future__ import annotations

import time

import pytest

from apps.integrations.models import DeliveryAttempt
from apps.integrations.receiver import EventReceiver
from tests.integrations.relay_processes import base_env, cli, database_url, finish, start_relay
from tests.integrations.relay_support import SECRET

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EVENTS = 10_000
AGGREGATES = 200
#: The run with faults is smaller: its failed calls and timeouts take wall time.
FAULTY_EVENTS = 2_000


def _first_arrivals_in_order(receiver: EventReceiver) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for _, _, aggregate, number in receiver.arrivals():
        seen.setdefault(aggregate, []).append(number)
    return {aggregate: list(dict.fromkeys(numbers)) for aggregate, numbers in seen.items()}


def _run(tmp_path, receiver: EventReceiver, events: int = EVENTS, **relay: object) -> dict[str, object]:
    env = base_env(
        database_url(tmp_path),
        webhook_url=receiver.url,
        batch_size=100,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.1,
        breaker_fail_max=1000,
        **relay,
    )
    assert cli(env, "publish", str(events), str(AGGREGATES)) == events
    started = time.monotonic()
    relays = [start_relay(env, "--until-empty", "--max-seconds", "120") for _ in range(2)]
    for proc in relays:
        finish(proc, timeout=180)
    seconds = time.monotonic() - started
    status = cli(env, "status")
    stats = receiver.stats()
    workers = set(DeliveryAttempt.objects.values_list("worker", flat=True))
    print(
        f"\nrelay x2: {events} events in {seconds:.1f} s ({events / seconds:.0f}/s), "
        f"distinct {stats['distinct']}, duplicates {stats['duplicates']}, calls {stats['requests']}"
    )
    return {"status": status, "stats": stats, "workers": workers}


def test_two_relays_deliver_10000_events_once_each_in_aggregate_order(require_postgres, tmp_path):
    with EventReceiver(secret=SECRET) as receiver:
        result = _run(tmp_path, receiver)
        order = _first_arrivals_in_order(receiver)

    assert result["status"] == {"statuses": {"delivered": EVENTS}, "claimants": []}
    stats = result["stats"]
    assert stats["distinct"] == EVENTS
    assert stats["duplicates"] == 0  # reported above; no batch was claimed twice
    assert len(result["workers"]) == 2  # both relays delivered
    assert len(order) == AGGREGATES
    assert all(numbers == list(range(1, EVENTS // AGGREGATES + 1)) for numbers in order.values())


def test_two_relays_with_faults_lose_nothing_and_keep_aggregate_order(require_postgres, tmp_path):
    faults = "ok,ok,500,ok,timeout,ok,drop,ok,503,ok,slow,ok"
    with EventReceiver(secret=SECRET, faults=faults, hang_seconds=1.0) as receiver:
        result = _run(tmp_path, receiver, events=FAULTY_EVENTS, read_timeout=0.5)
        order = _first_arrivals_in_order(receiver)

    assert result["status"] == {"statuses": {"delivered": FAULTY_EVENTS}, "claimants": []}
    assert result["stats"]["distinct"] == FAULTY_EVENTS
    assert result["stats"]["duplicates"] > 0  # the "slow" answers came after the relay gave up
    assert set(DeliveryAttempt.objects.values_list("outcome", flat=True)) == {
        "ok",
        "http_error",
        "timeout",
        "connection_error",
    }
    assert all(numbers == list(range(1, FAULTY_EVENTS // AGGREGATES + 1)) for numbers in order.values())
