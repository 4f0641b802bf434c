"""Helpers of the relay tests: a receiver fixture on loopback and events published for real."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from django.db import transaction

from apps.core.models import OutboxEvent
from apps.core.outbox import publish
from apps.integrations.receiver import EventReceiver
from apps.integrations.services import relay_deliver_batch, relay_sink_reset

SECRET = "test-webhook-secret"


def publish_events(
    count: int, *, aggregates: int = 1, prefix: str = "agg", kind: str = "test.happened"
) -> list:
    """``count`` events spread round-robin over ``aggregates`` aggregates, each in its own
    transaction (as flows publish them). Returns their ids in publish order."""
    ids = []
    for n in range(count):
        with transaction.atomic():
            event = publish(
                type=kind,
                aggregate_type="thing",
                aggregate_id=f"{prefix}-{n % aggregates}",
                market="KR",
                payload={"n": n, "name": "주팡"},
            )
        ids.append(event.id)
    return ids


@pytest.fixture
def receiver() -> Iterator[EventReceiver]:
    server = EventReceiver(secret=SECRET, hang_seconds=1.0, stall_seconds=30.0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def relay_settings(settings, receiver):
    """The relay pointed at the receiver, with timeouts and backoff small enough for a test."""
    settings.DATA_PLATFORM_WEBHOOK_URL = receiver.url
    settings.DATA_PLATFORM_WEBHOOK_SECRET = SECRET
    settings.DATA_PLATFORM_CONNECT_TIMEOUT = 1.0
    settings.DATA_PLATFORM_READ_TIMEOUT = 0.4
    settings.DATA_PLATFORM_BACKOFF_BASE_SECONDS = 0.01
    settings.DATA_PLATFORM_BACKOFF_MAX_SECONDS = 0.05
    settings.DATA_PLATFORM_MAX_ATTEMPTS = 50
    settings.DATA_PLATFORM_BREAKER_FAIL_MAX = 1000
    settings.DATA_PLATFORM_BREAKER_RESET_SECONDS = 0.5
    settings.DATA_PLATFORM_CIRCUIT_RETRY_SECONDS = 0.05
    settings.DATA_PLATFORM_BATCH_SIZE = 10
    settings.DATA_PLATFORM_LEASE_SECONDS = 30
    relay_sink_reset()
    yield settings
    relay_sink_reset()


def deliver_until(done: Callable[[], bool], *, timeout: float = 60.0, limit: int | None = None) -> int:
    """Run batches (sleeping briefly when nothing is due: backoff) until ``done()``.
    Returns the number of batches that claimed something."""
    deadline = time.monotonic() + timeout
    batches = 0
    while not done():
        assert time.monotonic() < deadline, "relay did not finish in time"
        result = relay_deliver_batch(limit=limit)
        assert result is not None
        if result.claimed:
            batches += 1
        else:
            time.sleep(0.02)
    return batches


def all_delivered() -> bool:
    return not OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).exists()
