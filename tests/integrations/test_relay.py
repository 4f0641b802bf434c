"""The outbox relay against a real HTTP receiver on loopback (issue 22 "Show"): signed
batches, faults on a schedule with nothing lost, attempts recorded, failed events visible
and requeued, the circuit breaker, per-aggregate order, retention, wake-up on commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import httpx
import pytest
from django.core.cache import cache
from django.db import transaction

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.core.outbox import (
    _run_commit_hooks,
    outbox_ack,
    outbox_batch_order,
    outbox_claim,
    outbox_requeue,
    outbox_retry,
    publish,
)
from apps.integrations import metrics
from apps.integrations.models import DeliveryAttempt, DeliveryAttemptEvent
from apps.integrations.services import (
    batch_body,
    relay_breaker_state,
    relay_deliver_batch,
    relay_drain,
    relay_prune,
    signature,
    signed_headers,
)
from apps.integrations.tasks import WAKE_KEY
from tests.integrations import relay_support
from tests.integrations.relay_support import SECRET, all_delivered, deliver_until, publish_events
from tests.utils.logs import record_logs

pytestmark = pytest.mark.django_db
receiver = relay_support.receiver
relay_settings = relay_support.relay_settings

Status = OutboxEvent.Status


def _counter(counter, **labels) -> float:
    return counter.labels(**labels)._value.get() if labels else counter._value.get()


# --- signing ---------------------------------------------------------------------------------


def test_signature_matches_a_hand_computation():
    body = b'[{"id":"x"}]'
    expected = hmac.new(b"s3cret", b"1764460800." + body, hashlib.sha256).hexdigest()

    assert signature(secret="s3cret", timestamp="1764460800", body=body) == f"v1={expected}"
    headers = signed_headers(secret="s3cret", body=body, event_ids=["a", "b"], now=1764460800.9)
    assert headers["Joopang-Timestamp"] == "1764460800"
    assert headers["Joopang-Signature"] == f"v1={expected}"
    assert headers["Joopang-Event-Ids"] == "a,b"


def test_receiver_rejects_a_bad_signature_and_a_stale_timestamp(receiver):
    body = b'[{"id":"e1"}]'
    bad = signed_headers(secret="not-the-secret", body=body, event_ids=["e1"])
    stale = signed_headers(secret=SECRET, body=body, event_ids=["e1"], now=1_000_000_000)
    good = signed_headers(secret=SECRET, body=body, event_ids=["e1"])

    assert httpx.post(receiver.url, content=body, headers=bad).status_code == 401
    assert httpx.post(receiver.url, content=body + b" ", headers=good).status_code == 401  # body changed
    assert httpx.post(receiver.url, content=body, headers=stale).status_code == 400
    assert receiver.stats()["distinct"] == 0
    assert httpx.post(receiver.url, content=body, headers=good).status_code == 200
    assert receiver.stats() == {"distinct": 1, "copies": 1, "duplicates": 0, "requests": 4, "rejected": 3}


def test_a_batch_is_one_signed_call_with_the_documented_shape(relay_settings, receiver):
    ids = publish_events(3, aggregates=2)

    result = relay_deliver_batch()

    assert result.claimed == 3 and result.delivered == 3 and result.outcome == "ok"
    assert receiver.stats()["distinct"] == 3
    assert receiver.requests() == [{"step": "ok", "status": 200, "events": 3, "verified": True, "error": ""}]
    stored = json.loads(receiver.store.query("SELECT body FROM events WHERE id = ?", (str(ids[0]),))[0][0])
    event = OutboxEvent.objects.get(pk=ids[0])
    assert stored == {
        "id": str(event.id),
        "sequence": event.sequence,
        "type": "test.happened",
        "version": 1,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z")[:23] + "Z",
        "market": "KR",
        "aggregate_type": "thing",
        "aggregate_id": "agg-0",
        "aggregate_sequence": 1,
        "payload": {"n": 0, "name": "주팡"},
    }
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.outcome, attempt.status_code, attempt.event_count) == ("ok", 200, 3)
    assert set(attempt.events.values_list("pk", flat=True)) == set(ids)


def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(relay_settings, receiver):
    relay_settings.DATA_PLATFORM_WEBHOOK_SECRET = "wrong"
    publish_events(2)

    result = relay_deliver_batch()

    assert (result.outcome, result.status_code, result.retried) == ("http_error", 401, 2)
    assert receiver.stats()["rejected"] == 1 and receiver.stats()["distinct"] == 0
    assert list(OutboxEvent.objects.values_list("status", "attempts")) == [("pending", 1), ("pending", 1)]
    assert relay_breaker_state() == "closed"  # a 4xx is the sink working: not a breaker failure


def test_no_webhook_url_means_the_relay_does_nothing(relay_settings, receiver):
    relay_settings.DATA_PLATFORM_WEBHOOK_URL = ""
    publish_events(2)

    assert relay_deliver_batch() is None
    assert relay_drain().stopped == "disabled"
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {Status.PENDING}
    assert receiver.stats()["requests"] == 0 and not DeliveryAttempt.objects.exists()


# --- faults -----------------------------------------------------------------------------------


def test_faults_on_a_schedule_lose_nothing(relay_settings, receiver, monkeypatch):
    logs = record_logs(monkeypatch, "apps.integrations.metrics.logger")
    receiver.set_faults("ok,500,timeout,drop,slow,503,ok,429,ok")
    ids = publish_events(57, aggregates=6)
    delivered_before = _counter(metrics.EVENTS, result="delivered")

    deliver_until(all_delivered)

    stats = receiver.stats()
    assert stats["distinct"] == 57  # every event, none lost
    assert receiver.event_ids() == {str(i) for i in ids}
    assert stats["duplicates"] >= 1  # the "slow" step stored a batch the relay timed out on
    outcomes = set(DeliveryAttempt.objects.values_list("outcome", flat=True))
    assert outcomes == {"ok", "http_error", "timeout", "connection_error"}
    assert set(
        DeliveryAttempt.objects.filter(outcome="http_error").values_list("status_code", flat=True)
    ) == {500, 503, 429}
    assert not DeliveryAttempt.objects.filter(outcome="timeout", duration_ms__lt=300).exists()
    # each event's attempts count = its failed calls; every call is linked to its events
    for event in OutboxEvent.objects.all():
        failed_calls = DeliveryAttemptEvent.objects.filter(event=event).exclude(attempt__outcome="ok").count()
        assert event.attempts == failed_calls
    assert _counter(metrics.EVENTS, result="delivered") - delivered_before == 57
    events = {e["event"] for e in logs}
    assert {"integrations.delivered", "integrations.delivery_failed"} <= events
    ok = next(e for e in logs if e["event"] == "integrations.delivered")
    assert ok["flow"] == "outbox" and ok["status"] == 200 and ok["count"] >= 1
    assert {"batch_id", "duration_ms"} <= set(ok)


def test_events_fail_after_max_attempts_and_can_be_requeued(relay_settings, receiver):
    relay_settings.DATA_PLATFORM_MAX_ATTEMPTS = 3
    receiver.set_faults("500")
    ids = publish_events(4, aggregates=2)

    deliver_until(lambda: OutboxEvent.objects.filter(status=Status.FAILED).count() == 4)

    assert set(OutboxEvent.objects.values_list("attempts", flat=True)) == {3}
    assert set(OutboxEvent.objects.values_list("last_error", flat=True)) == {
        'HTTP 500: {"error": "fault 500"}'
    }
    assert DeliveryAttempt.objects.filter(outcome="http_error").count() == 3
    assert relay_deliver_batch().claimed == 0  # failed is terminal

    receiver.set_faults("ok")
    assert outbox_requeue(event_ids=ids[:2]) == 2
    assert list(OutboxEvent.objects.filter(pk__in=ids[:2]).values_list("status", "attempts")) == [
        ("pending", 0),
        ("pending", 0),
    ]
    deliver_until(lambda: not OutboxEvent.objects.filter(status=Status.PENDING).exists())
    assert receiver.event_ids() == {str(i) for i in ids[:2]}
    # by time range: the other two
    since = OutboxEvent.objects.get(pk=ids[2]).occurred_at
    assert outbox_requeue(since=since, until=clock.now() + dt.timedelta(seconds=1)) == 2
    deliver_until(all_delivered)
    assert receiver.stats()["distinct"] == 4


def test_the_breaker_opens_and_releases_batches_without_counting_attempts(relay_settings, receiver):
    relay_settings.DATA_PLATFORM_BREAKER_FAIL_MAX = 2
    relay_settings.DATA_PLATFORM_BREAKER_RESET_SECONDS = 60
    relay_settings.DATA_PLATFORM_BATCH_SIZE = 1
    relay_settings.DATA_PLATFORM_BACKOFF_BASE_SECONDS = 30  # a failed batch is not due again here
    relay_settings.DATA_PLATFORM_BACKOFF_MAX_SECONDS = 30
    receiver.set_faults("500")
    publish_events(3, aggregates=3)

    first, second, third = (relay_deliver_batch() for _ in range(3))

    assert (first.outcome, second.outcome, third.outcome) == ("http_error", "http_error", "circuit_open")
    assert relay_breaker_state() == "open"
    assert receiver.stats()["requests"] == 2  # the third was never sent
    released = OutboxEvent.objects.get(pk=third.event_ids[0])
    assert (released.status, released.attempts, released.claimed_by) == ("pending", 0, "")
    assert released.next_attempt_at > clock.now()
    assert DeliveryAttempt.objects.filter(outcome="circuit_open").count() == 1
    assert _counter(metrics.BREAKER_STATE) == 2
    assert relay_drain().stopped in ("circuit_open", "empty")


def test_the_breaker_probes_after_the_reset_and_closes(relay_settings, receiver):
    relay_settings.DATA_PLATFORM_BREAKER_FAIL_MAX = 1
    relay_settings.DATA_PLATFORM_BREAKER_RESET_SECONDS = 0.2
    receiver.set_faults("500")
    publish_events(2, aggregates=2)
    assert relay_deliver_batch().outcome == "http_error"
    assert relay_breaker_state() == "open"

    receiver.set_faults("ok")
    deliver_until(all_delivered)

    assert relay_breaker_state() == "closed"
    assert receiver.stats()["distinct"] == 2


# --- the claim --------------------------------------------------------------------------------


def test_claims_never_overlap_and_a_taken_over_lease_cannot_be_clobbered(relay_settings):
    publish_events(5, aggregates=5)
    first = outbox_claim(worker="w1", limit=3, lease_seconds=30)
    second = outbox_claim(worker="w2", limit=10, lease_seconds=30)
    assert len(first) == 3 and len(second) == 2
    assert not {e.pk for e in first} & {e.pk for e in second}
    assert outbox_claim(worker="w3", limit=10, lease_seconds=30) == []

    # w1 stalls past its lease; w3 takes the batch over
    OutboxEvent.objects.filter(claimed_by="w1").update(lease_expires_at=clock.now() - dt.timedelta(seconds=1))
    taken = outbox_claim(worker="w3", limit=10, lease_seconds=30)
    assert {e.pk for e in taken} == {e.pk for e in first}
    # w1's late failure changes nothing of w3's claim
    assert outbox_retry(ids=[e.pk for e in first], worker="w1", error="x", next_attempt_at=clock.now()) == {
        "retried": 0,
        "failed": 0,
    }
    assert set(
        OutboxEvent.objects.filter(pk__in=[e.pk for e in first]).values_list("claimed_by", "attempts")
    ) == {("w3", 0)}
    # w1's late success is a fact: recorded as delivered; w3's retry then changes nothing
    assert outbox_ack(ids=[e.pk for e in first], worker="w1") == 3
    assert outbox_retry(ids=[e.pk for e in taken], worker="w3", error="x", next_attempt_at=clock.now()) == {
        "retried": 0,
        "failed": 0,
    }
    assert OutboxEvent.objects.filter(status=Status.DELIVERED).count() == 3


def test_an_event_waits_for_the_earlier_events_of_its_aggregate(relay_settings):
    a1, b1, a2, a3, b2 = (
        publish_events(1, prefix="a")[0],
        publish_events(1, prefix="b")[0],
        publish_events(1, prefix="a")[0],
        publish_events(1, prefix="a")[0],
        publish_events(1, prefix="b")[0],
    )
    # a1 failed once and backs off: a2, a3 must wait; b goes on
    claimed = outbox_claim(worker="w1", limit=1, lease_seconds=30)
    assert [e.pk for e in claimed] == [a1]
    outbox_retry(ids=[a1], worker="w1", error="x", next_attempt_at=clock.now() + dt.timedelta(minutes=5))
    assert [e.pk for e in outbox_claim(worker="w2", limit=10, lease_seconds=30)] == [b1, b2]

    # a1 fails for good: failed is terminal and no longer blocks
    OutboxEvent.objects.filter(pk=a1).update(status=Status.FAILED)
    assert [e.pk for e in outbox_claim(worker="w3", limit=10, lease_seconds=30)] == [a2, a3]


def test_an_event_with_a_lower_sequence_than_its_predecessor_waits_for_it(relay_settings):
    # two concurrent publishes of one aggregate can draw their global numbers the other way
    # round (outbox_batch_order); make that happen by hand
    first, second = publish_events(2, prefix="x")
    s1 = OutboxEvent.objects.get(pk=first).sequence
    s2 = OutboxEvent.objects.get(pk=second).sequence
    OutboxEvent.objects.filter(pk=first).update(sequence=-1)
    OutboxEvent.objects.filter(pk=second).update(sequence=s1)
    OutboxEvent.objects.filter(pk=first).update(sequence=s2)

    # the lower number (aggregate_sequence 2) is not even a candidate while its predecessor,
    # numbered higher, is open: it goes in a later batch, never before
    assert [e.pk for e in outbox_claim(worker="w1", limit=10, lease_seconds=30)] == [first]
    assert outbox_claim(worker="w2", limit=10, lease_seconds=30) == []
    outbox_ack(ids=[first], worker="w1")
    assert [e.pk for e in outbox_claim(worker="w2", limit=10, lease_seconds=30)] == [second]


def test_a_batch_lays_out_each_aggregate_in_its_own_order():
    def event(sequence: int, aggregate: str, number: int) -> OutboxEvent:
        return OutboxEvent(
            sequence=sequence, aggregate_type="t", aggregate_id=aggregate, aggregate_sequence=number
        )

    batch = [event(5, "a", 1), event(3, "a", 2), event(4, "b", 1), event(7, "a", 3), event(6, "b", 2)]

    laid_out = outbox_batch_order(batch)

    assert [(e.aggregate_id, e.aggregate_sequence) for e in laid_out] == [
        ("a", 1),  # place of sequence 3
        ("b", 1),
        ("a", 2),  # place of sequence 5
        ("b", 2),
        ("a", 3),
    ]


def test_per_aggregate_order_holds_with_faults(relay_settings, receiver):
    receiver.set_faults("ok,500,ok,timeout,drop,ok,ok,503")
    relay_settings.DATA_PLATFORM_BATCH_SIZE = 4
    publish_events(60, aggregates=5)

    deliver_until(all_delivered)

    seen: dict[str, list[int]] = {}
    for _, _, aggregate, number in receiver.arrivals():
        seen.setdefault(aggregate, []).append(number)
    assert sorted(seen) == [f"agg-{i}" for i in range(5)]
    for numbers in seen.values():
        firsts = list(dict.fromkeys(numbers))  # first arrival of each
        assert firsts == sorted(firsts) == list(range(1, 13))


# --- retention ----------------------------------------------------------------------------------


def test_prune_deletes_delivered_events_past_retention_and_their_attempts(relay_settings, receiver):
    relay_settings.DATA_PLATFORM_RETENTION_DAYS = 15
    old_ids = publish_events(3, prefix="old")
    deliver_until(all_delivered)
    receiver.set_faults("500")
    relay_settings.DATA_PLATFORM_MAX_ATTEMPTS = 1
    failed_ids = publish_events(1, prefix="failed")
    deliver_until(lambda: OutboxEvent.objects.filter(status=Status.FAILED).exists())
    pending_ids = publish_events(1, prefix="pending")
    long_ago = clock.now() - dt.timedelta(days=16)
    OutboxEvent.objects.update(occurred_at=long_ago)
    OutboxEvent.objects.filter(status=Status.DELIVERED).update(delivered_at=long_ago)
    DeliveryAttempt.objects.update(started_at=long_ago)
    recent = publish_events(1, prefix="recent")
    OutboxEvent.objects.filter(pk=recent[0]).update(status=Status.DELIVERED, delivered_at=clock.now())

    counts = relay_prune()

    assert counts == {"events": 3, "attempts": 1}
    remaining = set(OutboxEvent.objects.values_list("pk", flat=True))
    assert remaining == {*failed_ids, *pending_ids, *recent}
    assert not remaining & set(old_ids)
    # the failed event's attempt explains it: kept
    assert DeliveryAttempt.objects.get().outcome == "http_error"


# --- metrics ---------------------------------------------------------------------------------


def test_backlog_gauges_read_the_database(relay_settings, receiver):
    publish_events(4)
    OutboxEvent.objects.update(occurred_at=clock.now() - dt.timedelta(seconds=90))
    metrics.gauges_refresh()
    assert metrics.BACKLOG.labels(status="pending")._value.get() == 4
    assert metrics.OLDEST_PENDING_SECONDS._value.get() >= 90

    deliver_until(all_delivered)
    metrics.gauges_refresh()
    assert metrics.BACKLOG.labels(status="pending")._value.get() == 0
    assert metrics.OLDEST_PENDING_SECONDS._value.get() == 0


# --- wake-up on commit ---------------------------------------------------------------------


def test_one_wake_up_per_transaction_however_many_events(relay_settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for n in range(5):
            publish(
                type="test.happened", aggregate_type="thing", aggregate_id=str(n), market="KR", payload={}
            )
    assert callbacks == [_run_commit_hooks]


def test_a_rolled_back_savepoint_does_not_lose_the_wake_up(
    relay_settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                publish(
                    type="test.happened",
                    aggregate_type="thing",
                    aggregate_id="1",
                    market="KR",
                    payload={},
                )
                raise RuntimeError
        except RuntimeError:
            pass
        publish(type="test.happened", aggregate_type="thing", aggregate_id="2", market="KR", payload={})
    assert callbacks == [_run_commit_hooks]


def test_the_wake_up_is_debounced_by_the_flag(relay_settings, django_capture_on_commit_callbacks):
    cache.delete(WAKE_KEY)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        publish(type="test.happened", aggregate_type="thing", aggregate_id="1", market="KR", payload={})
    assert cache.get(WAKE_KEY) == "1"  # a run was queued; the next commits queue nothing
    relay_settings.DATA_PLATFORM_WEBHOOK_URL = ""
    cache.delete(WAKE_KEY)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        publish(type="test.happened", aggregate_type="thing", aggregate_id="2", market="KR", payload={})
    assert cache.get(WAKE_KEY) is None  # no URL: nothing to wake


def test_batch_body_is_compact_utf8_json(relay_settings):
    publish_events(1)
    body = batch_body(list(OutboxEvent.objects.all()))
    assert "주팡".encode() in body and b", " not in body
