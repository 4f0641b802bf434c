"""The outbox's publish side: an event exists exactly when its change committed."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import transaction

from apps.core.models import OutboxEvent
from apps.core.outbox import publish

pytestmark = pytest.mark.django_db


def _publish(aggregate_id: str = "1", **payload: object) -> OutboxEvent:
    return publish(
        type="test.happened", aggregate_type="thing", aggregate_id=aggregate_id, market="KR", payload=payload
    )


def test_publish_outside_a_transaction_is_refused(django_db_blocker):
    # pytest-django wraps each test in a transaction; leave it to call publish bare
    from django.db import connection

    atomic = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(AssertionError, match="inside the caller's transaction"):
            _publish()
    finally:
        connection.in_atomic_block = atomic
    assert not OutboxEvent.objects.exists()


def test_fields_numbering_and_json_payload():
    with transaction.atomic():
        first = _publish("7", at=dt.datetime(2026, 11, 30, 1, 2, 3, tzinfo=dt.UTC), ref=uuid.UUID(int=1))
        second = _publish("7")
        other = publish(
            type="test.other", aggregate_type="thing", aggregate_id=8, market=None, payload={}, version=2
        )

    assert isinstance(first.id, uuid.UUID)
    assert first.sequence < second.sequence < other.sequence
    assert [e.aggregate_sequence for e in (first, second, other)] == [1, 2, 1]
    assert (other.aggregate_id, other.market, other.version, other.status, other.attempts) == (
        "8",
        "",
        2,
        "pending",
        0,
    )
    first.refresh_from_db()
    assert first.payload == {"at": "2026-11-30T01:02:03Z", "ref": "00000000-0000-0000-0000-000000000001"}


def test_a_rolled_back_change_leaves_no_event():
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        _publish()
        raise Boom

    assert not OutboxEvent.objects.exists()
