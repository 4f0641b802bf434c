"""The outbox, publish side: every app records its domain events here, in the caller's
transaction (DESIGN.md §5 "Outbox", docs/events.md, ADR 0006).

Usage, inside a service's ``transaction.atomic`` block::

    publish(type="inventory.adjusted", aggregate_type="stock_level", aggregate_id=level.pk,
            market=level.warehouse.market_id, payload={...})

Only the relay (integrations) talks to the outside; a service never does network I/O.
"""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Max

from apps.core import clock
from apps.core.models import OutboxEvent

#: PostgreSQL sequence behind ``OutboxEvent.sequence`` (created by core/0002).
SEQUENCE_NAME = "core_outboxevent_sequence_seq"


def _next_numbers(aggregate_type: str, aggregate_id: str) -> tuple[int, int]:
    """The event's global ``sequence`` and its ``aggregate_sequence``.

    PostgreSQL, two statements: the global number and the aggregate's advisory lock in one
    round trip, then the aggregate's MAX in a statement of its own. Two transactions
    publishing for the same aggregate take turns at the lock (released at commit), and the
    MAX must be a later statement than the lock: in READ COMMITTED each statement reads a
    new snapshot, so it sees the row the previous holder committed; read in the same
    statement as the lock, the snapshot would predate the wait, both would read the same MAX
    and one would fail on the unique index.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(%s), pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [SEQUENCE_NAME, f"outbox:{aggregate_type}:{aggregate_id}"],
            )
            sequence = int(cursor.fetchone()[0])
            cursor.execute(
                "SELECT MAX(aggregate_sequence) FROM core_outboxevent WHERE aggregate_type = %s AND aggregate_id = %s",
                [aggregate_type, aggregate_id],
            )
            last = cursor.fetchone()[0]
        return sequence, int(last or 0) + 1
    # SQLite: the IMMEDIATE transaction holds the database's write lock, so no other writer
    # can take the same numbers between these reads and the insert.
    sequence = int(OutboxEvent.objects.aggregate(m=Max("sequence"))["m"] or 0) + 1
    last = OutboxEvent.objects.filter(aggregate_type=aggregate_type, aggregate_id=aggregate_id).aggregate(
        m=Max("aggregate_sequence")
    )["m"]
    return sequence, int(last or 0) + 1


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """Dates, UUIDs and Decimals as the JSON strings the relay will send."""
    import json

    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def publish(
    *,
    type: str,
    aggregate_type: str,
    aggregate_id: str | int,
    market: str | None,
    payload: dict[str, Any],
    version: int = 1,
) -> OutboxEvent:
    """Record one event in the caller's transaction (the event exists iff the change commits).

    Locks: on PostgreSQL a transaction-scoped advisory lock per aggregate (numbering).
    Raises: AssertionError outside a transaction (a bug, not a user error).
    """
    assert connection.in_atomic_block, "outbox.publish() must run inside the caller's transaction"
    aggregate_key = str(aggregate_id)
    sequence, aggregate_sequence = _next_numbers(aggregate_type, aggregate_key)
    return OutboxEvent.objects.create(
        sequence=sequence,
        type=type,
        version=version,
        market=market or "",
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_key,
        aggregate_sequence=aggregate_sequence,
        payload=_jsonable(payload),
        occurred_at=clock.now(),
    )
