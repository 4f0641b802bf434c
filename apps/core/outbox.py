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


def _insert_postgresql(event: OutboxEvent) -> None:
    """INSERT ``event`` on PostgreSQL in two statements.

    First the global number and the aggregate's advisory lock in one round trip; then the
    INSERT, whose ``aggregate_sequence`` is the aggregate's MAX + 1 read by a subquery of
    that same statement. Two transactions publishing for the same aggregate take turns at
    the lock (released at commit), and the MAX must be read by a later statement than the
    lock: in READ COMMITTED each statement reads a new snapshot, so the INSERT sees the row
    the previous holder committed; read in the same statement as the lock, the snapshot
    would predate the wait, both would read the same MAX and one would fail on the unique
    index. Sets ``event.sequence`` and ``event.aggregate_sequence``.
    """
    table = OutboxEvent._meta.db_table
    fields = [
        f for f in OutboxEvent._meta.concrete_fields if f.name not in ("sequence", "aggregate_sequence")
    ]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s), pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [SEQUENCE_NAME, f"outbox:{event.aggregate_type}:{event.aggregate_id}"],
        )
        event.sequence = int(cursor.fetchone()[0])
        cursor.execute(
            f"INSERT INTO {table} ({columns}, sequence, aggregate_sequence) VALUES ({marks}, %s, "  # noqa: S608
            f"(SELECT COALESCE(MAX(aggregate_sequence), 0) + 1 FROM {table} "
            "WHERE aggregate_type = %s AND aggregate_id = %s)) RETURNING aggregate_sequence",
            [*values, event.sequence, event.aggregate_type, event.aggregate_id],
        )
        event.aggregate_sequence = int(cursor.fetchone()[0])
    event._state.adding, event._state.db = False, connection.alias


def _next_numbers_sqlite(aggregate_type: str, aggregate_id: str) -> tuple[int, int]:
    """SQLite: the IMMEDIATE transaction holds the database's write lock, so no other
    writer can take the same numbers between these reads and the insert."""
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
    event = OutboxEvent(
        type=type,
        version=version,
        market=market or "",
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_key,
        payload=_jsonable(payload),
        occurred_at=clock.now(),
    )
    if connection.vendor == "postgresql":
        _insert_postgresql(event)
        return event
    event.sequence, event.aggregate_sequence = _next_numbers_sqlite(aggregate_type, aggregate_key)
    event.save(force_insert=True)
    return event
