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


def _next_sequence() -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [SEQUENCE_NAME])
            return int(cursor.fetchone()[0])
    # SQLite: the IMMEDIATE transaction holds the database's write lock, so no other writer
    # can take the same number between this read and the insert.
    return int(OutboxEvent.objects.aggregate(m=Max("sequence"))["m"] or 0) + 1


def _next_aggregate_sequence(aggregate_type: str, aggregate_id: str) -> int:
    if connection.vendor == "postgresql":
        # Two transactions publishing for the same aggregate take turns here (released at
        # commit), so both never read the same MAX and one fail on the unique index.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"outbox:{aggregate_type}:{aggregate_id}"],
            )
    last = OutboxEvent.objects.filter(aggregate_type=aggregate_type, aggregate_id=aggregate_id).aggregate(
        m=Max("aggregate_sequence")
    )["m"]
    return int(last or 0) + 1


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
    return OutboxEvent.objects.create(
        sequence=_next_sequence(),
        type=type,
        version=version,
        market=market or "",
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_key,
        aggregate_sequence=_next_aggregate_sequence(aggregate_type, aggregate_key),
        payload=_jsonable(payload),
        occurred_at=clock.now(),
    )
