"""The outbox relay: ship ``pending`` outbox events to the data platform's webhook, at least once.

One batch (``relay_deliver_batch``):

1. **Claim** up to ``DATA_PLATFORM_BATCH_SIZE`` events with a lease
   (``apps.core.outbox.outbox_claim``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
   relays never claim one event; per-aggregate order kept; ADR 0011).
2. **POST** them as one JSON array to ``DATA_PLATFORM_WEBHOOK_URL`` with the headers of
   API.md: ``Joopang-Event-Ids`` (comma-separated ids), ``Joopang-Timestamp`` (Unix
   seconds) and ``Joopang-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">`` keyed with
   ``DATA_PLATFORM_WEBHOOK_SECRET``; connect and read timeouts from settings. No database
   transaction is open during the call.
3. **Any 2xx acknowledges** the batch: its events become ``delivered``. Anything else
   (another status, a timeout, a refused or dropped connection) counts one attempt of each
   event and puts it back to ``pending`` until a backoff drawn with full jitter, uniformly
   in ``[0, min(MAX, BASE * 2^attempts)]`` seconds; the ``DATA_PLATFORM_MAX_ATTEMPTS``-th
   failed attempt marks it ``failed`` (terminal until a redelivery requeues it).
4. **Record** the call: one ``DeliveryAttempt`` (outcome, HTTP status, error, duration,
   worker) linked to the events it carried.

A **circuit breaker** (pybreaker, one per process) counts consecutive calls that found the
sink down (5xx, 429, timeouts, connection errors; a 4xx other than 429 is the sink working
and refusing, so it is retried but does not trip the breaker). While it is open no request
is sent: the claimed batch is given back to ``pending`` after
``DATA_PLATFORM_CIRCUIT_RETRY_SECONDS`` without counting an attempt, and the attempt is
recorded as ``circuit_open``; after ``DATA_PLATFORM_BREAKER_RESET_SECONDS`` one call probes.

**No webhook URL configured**: the relay claims nothing and sends nothing; events stay
``pending`` (their backlog shows in the stats and metrics) and the pull feed
(``GET /integrations/events``) still serves them. Setting the URL later ships the backlog.

Delivery is at least once: a relay killed after the sink stored a batch but before the
acknowledgement was recorded leaves the batch ``delivering``; when the lease expires another
relay sends it again. Consumers dedupe by event ``id`` (docs/events.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pybreaker
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.core.outbox import (
    outbox_ack,
    outbox_claim,
    outbox_prune,
    outbox_release,
    outbox_retry,
)
from apps.integrations import metrics
from apps.integrations.models import DeliveryAttempt, DeliveryAttemptEvent

Outcome = DeliveryAttempt.Outcome

#: The header names of API.md.
HEADER_EVENT_IDS = "Joopang-Event-Ids"
HEADER_TIMESTAMP = "Joopang-Timestamp"
HEADER_SIGNATURE = "Joopang-Signature"


# --- the wire format -----------------------------------------------------------------------


def event_json(event: OutboxEvent) -> dict[str, Any]:
    """One event as the webhook and the pull feed show it (docs/events.md "Envelope")."""
    return {
        "id": str(event.id),
        "sequence": event.sequence,
        "type": event.type,
        "version": event.version,
        "occurred_at": event.occurred_at,
        "market": event.market,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "aggregate_sequence": event.aggregate_sequence,
        "payload": event.payload,
    }


def batch_body(events: list[OutboxEvent]) -> bytes:
    """The request body: a JSON array of the events, compact, UTF-8 (Korean text as is);
    dates as ISO 8601 UTC with ``Z``."""
    return json.dumps(
        [event_json(e) for e in events], cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")
    ).encode()


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 of "timestamp.body">`` keyed with ``secret`` (API.md)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signed_headers(
    *, secret: str, body: bytes, event_ids: list[str], now: float | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        HEADER_EVENT_IDS: ",".join(event_ids),
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: signature(secret=secret, timestamp=timestamp, body=body),
    }


# --- the sink: one httpx client and one breaker per process ---------------------------------


class _SinkDown(Exception):
    """A call that found the sink down (counts against the breaker)."""

    def __init__(self, outcome: str, error: str, status: int | None = None) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error
        self.status = status


@dataclass
class _Answer:
    status: int


class _Sink:
    """The webhook endpoint as this process sees it. Built from settings on first use and
    rebuilt when they change (tests point it at their own receiver)."""

    def __init__(self, *, url: str, connect: float, read: float, fail_max: int, reset: float) -> None:
        self.url = url
        self.key = (url, connect, read, fail_max, reset)
        self.client = httpx.Client(
            timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect),
            headers={"User-Agent": "joopang-relay/1"},
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset,
            listeners=[metrics.BreakerMetricsListener()],
            name="data-platform-webhook",
            throw_new_error_on_trip=False,
        )
        metrics.breaker_reset()

    def post(self, body: bytes, headers: dict[str, str]) -> _Answer:
        """One POST through the breaker. Raises ``pybreaker.CircuitBreakerError`` (open,
        nothing sent) or ``_SinkDown``; returns the status of any other answer.

        The relay runs one batch at a time per process, so pybreaker's ``call`` holding its
        lock for the whole request serializes nothing that would otherwise run."""
        return self.breaker.call(self._send, body, headers)

    def _send(self, body: bytes, headers: dict[str, str]) -> _Answer:
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise _SinkDown(Outcome.TIMEOUT, f"{type(exc).__name__}: {exc}"[:500]) from exc
        except httpx.TransportError as exc:
            raise _SinkDown(Outcome.CONNECTION_ERROR, f"{type(exc).__name__}: {exc}"[:500]) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise _SinkDown(Outcome.HTTP_ERROR, _error_text(response), status=response.status_code)
        return _Answer(status=response.status_code)

    @property
    def state(self) -> str:
        return str(self.breaker.current_state)

    def close(self) -> None:
        self.client.close()


def _error_text(response: httpx.Response) -> str:
    text = response.text[:200].strip() if response.content else ""
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


_sink: _Sink | None = None
_sink_lock = threading.Lock()


def _get_sink() -> _Sink:
    global _sink
    key = (
        settings.DATA_PLATFORM_WEBHOOK_URL,
        float(settings.DATA_PLATFORM_CONNECT_TIMEOUT),
        float(settings.DATA_PLATFORM_READ_TIMEOUT),
        int(settings.DATA_PLATFORM_BREAKER_FAIL_MAX),
        float(settings.DATA_PLATFORM_BREAKER_RESET_SECONDS),
    )
    with _sink_lock:
        if _sink is None or _sink.key != key:
            if _sink is not None:
                _sink.close()
            _sink = _Sink(url=key[0], connect=key[1], read=key[2], fail_max=key[3], reset=key[4])
        return _sink


def relay_sink_reset() -> None:
    """Forget this process's client and breaker (a new one starts closed). For tests and
    for ops after changing the webhook settings in a running shell."""
    global _sink
    with _sink_lock:
        if _sink is not None:
            _sink.close()
        _sink = None


def relay_breaker_state() -> str:
    """``closed``, ``open`` or ``half-open`` for this process's breaker."""
    return _get_sink().state


# --- one batch -------------------------------------------------------------------------------


def relay_enabled() -> bool:
    return bool(settings.DATA_PLATFORM_WEBHOOK_URL)


def _worker_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def backoff_seconds(*, attempts: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in ``[0, min(MAX, BASE * 2^attempts)]`` (``attempts`` already
    made, counting the one that just failed)."""
    base = float(settings.DATA_PLATFORM_BACKOFF_BASE_SECONDS)
    cap = float(settings.DATA_PLATFORM_BACKOFF_MAX_SECONDS)
    ceiling = min(cap, base * (2 ** min(max(attempts, 0), 32)))
    return (rng or random).uniform(0, ceiling)


@dataclass
class BatchResult:
    """What one ``relay_deliver_batch`` did (``claimed`` 0: nothing was due)."""

    batch_id: str
    claimed: int
    outcome: str = ""
    status_code: int | None = None
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    duration_ms: int = 0
    error: str = ""
    event_ids: list[str] = field(default_factory=list)


def _record(
    *,
    batch_id: uuid.UUID,
    worker: str,
    started_at: dt.datetime,
    duration_ms: int,
    outcome: str,
    status: int | None,
    error: str,
    events: list[OutboxEvent],
) -> None:
    attempt = DeliveryAttempt.objects.create(
        batch_id=batch_id,
        worker=worker,
        started_at=started_at,
        duration_ms=duration_ms,
        outcome=outcome,
        status_code=status,
        error=error[:500],
        event_count=len(events),
    )
    DeliveryAttemptEvent.objects.bulk_create(
        [DeliveryAttemptEvent(attempt=attempt, event_id=e.pk) for e in events]
    )


def relay_deliver_batch(
    *, limit: int | None = None, lease_seconds: float | None = None
) -> BatchResult | None:
    """Claim, send and settle one batch (module docstring). Returns ``None`` when no webhook
    URL is configured (nothing is claimed), else what happened (``claimed`` 0 when nothing
    was due).

    Locks: the claim's (see ``outbox_claim``); no transaction is open during the HTTP call.
    Emits: nothing to the outbox; logs ``integrations.delivered`` or
    ``integrations.delivery_failed`` (flow ``outbox``) and moves the relay's metrics.
    """
    if not relay_enabled():
        return None
    batch_id = uuid.uuid4()
    host = _worker_name()
    token = f"{host}:{batch_id.hex[:12]}"
    events = outbox_claim(
        worker=token,
        limit=limit or int(settings.DATA_PLATFORM_BATCH_SIZE),
        lease_seconds=lease_seconds or float(settings.DATA_PLATFORM_LEASE_SECONDS),
    )
    result = BatchResult(batch_id=str(batch_id), claimed=len(events), event_ids=[str(e.id) for e in events])
    if not events:
        return result
    ids = [e.pk for e in events]
    body = batch_body(events)
    headers = signed_headers(
        secret=settings.DATA_PLATFORM_WEBHOOK_SECRET, body=body, event_ids=result.event_ids
    )
    sink = _get_sink()
    started_at = clock.now()
    started = time.monotonic()
    status: int | None = None
    error = ""
    outcome: str
    try:
        answer = sink.post(body, headers)
        status = answer.status
        outcome = Outcome.OK if 200 <= answer.status < 300 else Outcome.HTTP_ERROR
        if outcome != Outcome.OK:
            error = f"HTTP {answer.status}"
    except pybreaker.CircuitBreakerError:
        outcome, error = Outcome.CIRCUIT_OPEN, "circuit breaker open: not sent"
    except _SinkDown as exc:
        outcome, error, status = exc.outcome, exc.error, exc.status
    duration_ms = int((time.monotonic() - started) * 1000)
    result.outcome, result.status_code, result.duration_ms, result.error = outcome, status, duration_ms, error
    next_in: float | None = None
    with transaction.atomic():
        _record(
            batch_id=batch_id,
            worker=host,
            started_at=started_at,
            duration_ms=duration_ms,
            outcome=outcome,
            status=status,
            error=error,
            events=events,
        )
        if outcome == Outcome.OK:
            result.delivered = outbox_ack(ids=ids, worker=token)
        elif outcome == Outcome.CIRCUIT_OPEN:
            next_in = float(settings.DATA_PLATFORM_CIRCUIT_RETRY_SECONDS)
            result.released = outbox_release(
                ids=ids,
                worker=token,
                error=error,
                next_attempt_at=clock.now() + dt.timedelta(seconds=next_in),
            )
        else:
            next_in = backoff_seconds(attempts=max(e.attempts for e in events) + 1)
            counts = outbox_retry(
                ids=ids,
                worker=token,
                error=error,
                next_attempt_at=clock.now() + dt.timedelta(seconds=next_in),
            )
            result.retried, result.failed = counts["retried"], counts["failed"]
    if outcome == Outcome.OK:
        now = clock.now()
        metrics.delivered(
            batch_id=result.batch_id,
            count=len(events),
            status=status,
            duration_ms=duration_ms,
            latencies=[(now - e.occurred_at).total_seconds() for e in events],
            acked=result.delivered,
        )
    else:
        metrics.delivery_failed(
            batch_id=result.batch_id,
            count=len(events),
            outcome=str(outcome),
            status=status,
            duration_ms=duration_ms,
            error=error,
            retried=result.retried,
            failed=result.failed,
            released=result.released,
            next_attempt_in=next_in,
        )
    return result


@dataclass
class DrainResult:
    batches: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    stopped: str = ""  # empty | budget | circuit_open | disabled

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def relay_drain(*, time_budget: float | None = None, limit: int | None = None) -> DrainResult:
    """Deliver batches until none is due, the breaker is open, or ``time_budget`` seconds
    (``DATA_PLATFORM_RELAY_TIME_BUDGET_SECONDS``) have passed. What the Celery task runs."""
    budget = float(settings.DATA_PLATFORM_RELAY_TIME_BUDGET_SECONDS if time_budget is None else time_budget)
    deadline = time.monotonic() + budget
    total = DrainResult()
    while True:
        batch = relay_deliver_batch(limit=limit)
        if batch is None:
            total.stopped = "disabled"
            return total
        if batch.claimed == 0:
            total.stopped = "empty"
            return total
        total.batches += 1
        total.delivered += batch.delivered
        total.retried += batch.retried
        total.failed += batch.failed
        total.released += batch.released
        if batch.outcome == Outcome.CIRCUIT_OPEN:
            total.stopped = "circuit_open"
            return total
        if time.monotonic() >= deadline:
            total.stopped = "budget"
            return total


def relay_prune(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what the retention window (``DATA_PLATFORM_RETENTION_DAYS``) no longer keeps:
    ``delivered`` events delivered before it (``outbox_prune``; their attempt links go
    with them) and attempts started before it that no longer carry any event. Pending and
    failed events, and the attempts that explain them, are kept. Returns the counts."""
    cutoff = (now or clock.now()) - dt.timedelta(days=int(settings.DATA_PLATFORM_RETENTION_DAYS))
    events = outbox_prune(delivered_before=cutoff)
    carries_events = Exists(DeliveryAttemptEvent.objects.filter(attempt_id=OuterRef("pk")))
    attempts = 0
    while True:
        ids = list(
            DeliveryAttempt.objects.filter(started_at__lt=cutoff)
            .filter(~carries_events)
            .values_list("pk", flat=True)[:2000]
        )
        if not ids:
            return {"events": events, "attempts": attempts}
        attempts += DeliveryAttempt.objects.filter(pk__in=ids).delete()[1].get(DeliveryAttempt._meta.label, 0)
