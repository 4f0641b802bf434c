"""The outbox, publish side: every app records its domain events here, in the caller's
transaction (DESIGN.md §5 "Outbox", docs/events.md, ADR 0006).

Usage, inside a service's ``transaction.atomic`` block::

    publish(type="inventory.adjusted", aggregate_type="stock_level", aggregate_id=level.pk,
            market=level.warehouse.market_id, payload={...})

Only the relay (integrations) talks to the outside; a service never does network I/O.
The relay's side of the table (claim, acknowledge, retry, release, requeue, prune) is at
the end of this module: core owns the table, so only core writes it (ADR 0011).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Max

from apps.core import clock
from apps.core.models import OutboxEvent

#: PostgreSQL sequence behind ``OutboxEvent.sequence`` (created by core/0002).
SEQUENCE_NAME = "core_outboxevent_sequence_seq"


_parts: list[tuple[str, list[Any], str, str]] = []


def _insert_parts() -> tuple[str, list[Any], str, str]:
    """The INSERT's table, fields (all but the two numbers), column list and placeholders:
    the same for every event, so built once per process."""
    if not _parts:
        fields = [
            f for f in OutboxEvent._meta.concrete_fields if f.name not in ("sequence", "aggregate_sequence")
        ]
        columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
        _parts.append((OutboxEvent._meta.db_table, fields, columns, ", ".join(["%s"] * len(fields))))
    return _parts[0]


def _insert_postgresql_locked(event: OutboxEvent) -> None:
    """INSERT ``event`` in one statement, for a caller that serialises the aggregate itself
    (``publish(locked=True)``): the global number from the sequence and the aggregate's
    MAX + 1 in the same statement. Its snapshot is taken after the caller's row lock was
    granted, that is after every earlier publisher of the aggregate (holding the same lock)
    committed, so it sees their rows; a brand-new aggregate has nobody to wait for."""
    table, fields, columns, marks = _insert_parts()
    values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}, sequence, aggregate_sequence) VALUES ({marks}, nextval(%s), "  # noqa: S608
            f"(SELECT COALESCE(MAX(aggregate_sequence), 0) + 1 FROM {table} "
            "WHERE aggregate_type = %s AND aggregate_id = %s)) RETURNING sequence, aggregate_sequence",
            [*values, SEQUENCE_NAME, event.aggregate_type, event.aggregate_id],
        )
        event.sequence, event.aggregate_sequence = (int(v) for v in cursor.fetchone())
    event._state.adding, event._state.db = False, connection.alias


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
    table, fields, columns, marks = _insert_parts()
    values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
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


def outbox_event(
    *,
    type: str,
    aggregate_type: str,
    aggregate_id: str | int,
    market: str | None,
    payload: dict[str, Any],
    version: int = 1,
) -> OutboxEvent:
    """The event :func:`publish` records, built without the database (its payload already
    the JSON the relay will send). A caller that publishes while holding a lock every
    other caller waits for builds it before taking the lock, and records it with
    :func:`publish_event` inside."""
    return OutboxEvent(
        type=type,
        version=version,
        market=market or "",
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=_jsonable(payload),
        occurred_at=clock.now(),
    )


def publish_event(event: OutboxEvent, *, locked: bool = False) -> OutboxEvent:
    """Record an event built by :func:`outbox_event` in the caller's transaction: see
    :func:`publish`."""
    assert connection.in_atomic_block, "outbox.publish() must run inside the caller's transaction"
    if connection.vendor == "postgresql":
        (_insert_postgresql_locked if locked else _insert_postgresql)(event)
    else:
        event.sequence, event.aggregate_sequence = _next_numbers_sqlite(
            event.aggregate_type, event.aggregate_id
        )
        event.save(force_insert=True)
    _wake_on_commit()
    return event


def publish(
    *,
    type: str,
    aggregate_type: str,
    aggregate_id: str | int,
    market: str | None,
    payload: dict[str, Any],
    version: int = 1,
    locked: bool = False,
) -> OutboxEvent:
    """Record one event in the caller's transaction (the event exists iff the change commits).

    ``locked=True``: the caller already holds, from an earlier statement of this
    transaction, a row lock that *every* publisher of this aggregate takes before it
    publishes (the order row for ``order`` events, the wallet row for ``wallet`` events),
    or the aggregate was created in this transaction: the numbering then needs no lock of
    its own (one statement instead of two on PostgreSQL).

    Locks: on PostgreSQL, unless ``locked``, a transaction-scoped advisory lock per
    aggregate (numbering).
    Raises: AssertionError outside a transaction (a bug, not a user error).
    """
    event = outbox_event(
        type=type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        market=market,
        payload=payload,
        version=version,
    )
    return publish_event(event, locked=locked)


# --- Wake-up on commit -------------------------------------------------------------------
#
# The relay lives in ``apps.integrations``, which core must not import. Integrations
# registers a callback in its ``AppConfig.ready()``; ``publish()`` and ``outbox_requeue()``
# ask for it to run once when the transaction that wrote the events commits (one
# ``on_commit`` per transaction, however many events it published).

_commit_hooks: list[Callable[[], None]] = []


def outbox_commit_hook_register(hook: Callable[[], None]) -> None:
    """Run ``hook()`` after the commit of every transaction that published or requeued
    events. Idempotent (registering the same callable twice keeps one). The hook runs after
    the commit, outside the transaction: it must be quick and must not raise (a broker that
    is down is the hook's business to log; ``on_commit`` is registered ``robust``)."""
    if hook not in _commit_hooks:
        _commit_hooks.append(hook)


def outbox_commit_hook_unregister(hook: Callable[[], None]) -> None:
    if hook in _commit_hooks:
        _commit_hooks.remove(hook)


def _run_commit_hooks() -> None:
    for hook in list(_commit_hooks):
        hook()


def _wake_on_commit() -> None:
    """Ask for ``_run_commit_hooks`` once per transaction. Django keeps a transaction's
    callbacks in ``connection.run_on_commit`` and drops those of a rolled-back savepoint,
    so looking there (rather than keeping our own flag) never loses the wake-up when the
    savepoint that first registered it rolls back."""
    if not _commit_hooks or not connection.in_atomic_block:
        return
    if any(entry[1] is _run_commit_hooks for entry in connection.run_on_commit):
        return
    transaction.on_commit(_run_commit_hooks, robust=True)


# --- Relay side: claim, acknowledge, retry, release, requeue, prune ---------------------
#
# The relay (``apps.integrations.services.relay``) calls these; it never writes the outbox
# table itself (core owns it). ADR 0011 explains the design; the short version:
#
# * A claim moves a batch from ``pending`` (due) or ``delivering`` (lease expired) to
#   ``delivering`` with a lease and a claimant token, in one statement. On PostgreSQL the
#   candidate rows are locked ``FOR UPDATE SKIP LOCKED``, so two relays never claim the
#   same row; on SQLite the IMMEDIATE transaction holds the database's write lock.
# * Acknowledge / retry / release are compare-and-set on the claimant token: a relay whose
#   lease was taken over cannot put another relay's claim back to pending.

_OPEN = (OutboxEvent.Status.PENDING, OutboxEvent.Status.DELIVERING)
_FIELDS = [str(f.column) for f in OutboxEvent._meta.concrete_fields]


def _claim_sql(vendor: str) -> str:
    table = OutboxEvent._meta.db_table
    q = connection.ops.quote_name
    returning = ", ".join(q(c) for c in _FIELDS)
    lock = "FOR UPDATE OF e SKIP LOCKED" if vendor == "postgresql" else ""
    materialized = "MATERIALIZED" if vendor in ("postgresql", "sqlite") else ""
    # %(now)s etc. are positional below; the order of the parameters is listed in
    # outbox_claim().
    return f"""
WITH candidates AS {materialized} (
    SELECT e.id, e.aggregate_type, e.aggregate_id, e.aggregate_sequence
    FROM {table} e
    WHERE e.status IN ('pending', 'delivering')
      AND (
            (e.status = 'pending' AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= %s))
         OR (e.status = 'delivering' AND (e.lease_expires_at IS NULL OR e.lease_expires_at < %s))
      )
      AND NOT EXISTS (
            SELECT 1 FROM {table} p
            WHERE p.status IN ('pending', 'delivering')
              AND p.aggregate_type = e.aggregate_type
              AND p.aggregate_id = e.aggregate_id
              AND p.aggregate_sequence < e.aggregate_sequence
              AND (
                    p.sequence > e.sequence
                 OR (p.status = 'pending' AND p.next_attempt_at > %s)
                 OR (p.status = 'delivering' AND p.lease_expires_at >= %s)
              )
      )
    ORDER BY e.sequence
    LIMIT %s
    {lock}
)
UPDATE {table}
SET status = 'delivering', lease_expires_at = %s, claimed_by = %s
WHERE id IN (
    SELECT c.id FROM candidates c
    WHERE NOT EXISTS (
        SELECT 1 FROM {table} p
        WHERE p.status IN ('pending', 'delivering')
          AND p.aggregate_type = c.aggregate_type
          AND p.aggregate_id = c.aggregate_id
          AND p.aggregate_sequence < c.aggregate_sequence
          AND p.id NOT IN (SELECT id FROM candidates)
    )
)
RETURNING {returning}
"""  # noqa: S608 - table and column names come from the model, values are parameters


def outbox_batch_order(events: list[OutboxEvent]) -> list[OutboxEvent]:
    """``events`` in ``sequence`` order, except that the events of one aggregate are put
    in ``aggregate_sequence`` order among the places that aggregate holds.

    ``sequence`` is drawn before the aggregate's numbering lock (``_insert_postgresql``),
    so two concurrent publishes for one aggregate can get their global numbers the other
    way round; consumers read per-aggregate order from ``aggregate_sequence``, and so does
    the relay when it lays out a batch."""
    ordered = sorted(events, key=lambda e: e.sequence)
    slots: dict[tuple[str, str], list[int]] = {}
    for index, event in enumerate(ordered):
        slots.setdefault((event.aggregate_type, event.aggregate_id), []).append(index)
    result: list[OutboxEvent] = list(ordered)
    for places in slots.values():
        if len(places) < 2:
            continue
        members = sorted((ordered[i] for i in places), key=lambda e: e.aggregate_sequence)
        for place, event in zip(places, members, strict=True):
            result[place] = event
    return result


def outbox_claim(*, worker: str, limit: int, lease_seconds: float) -> list[OutboxEvent]:
    """Claim up to ``limit`` events for delivery by ``worker`` (a token unique to this
    claim: the relay uses ``host:pid:batch``), for ``lease_seconds``. Returns them in
    batch order (``outbox_batch_order``); an empty list when nothing is due.

    **What can be claimed**: ``pending`` events that are due (``next_attempt_at`` null or
    past) and ``delivering`` events whose lease has expired (their relay died or stalled;
    it can no longer acknowledge them as its own, see ``outbox_retry``).

    **Per-aggregate order**: an event is never claimed while an earlier event of its
    aggregate (lower ``aggregate_sequence``) is still ``pending`` or ``delivering`` and is
    not claimed in the same batch, so a consumer receives one aggregate's events in order
    (within a batch they are laid out in ``aggregate_sequence`` order). ``failed`` is
    terminal and does not block: once an event has failed, the later events of its
    aggregate go on, and the failed one arrives out of order if it is requeued (the
    consumer sees its ``aggregate_sequence`` and dedupes by ``id``). A redelivery
    (``outbox_requeue``) is likewise outside the ordering promise. Two filters keep it:

    1. *Candidates* (the inner ``SELECT``, ``ORDER BY sequence LIMIT n``): claimable events
       none of whose earlier open events is waiting (pending with a future attempt time,
       or delivering under a live lease) or has a higher ``sequence`` (possible, see
       ``outbox_batch_order``). Such an event could not be claimed now anyway, and
       leaving it out keeps it from filling the window: the earliest open event of every
       aggregate with a candidate in the window is in the window too (its ``sequence`` is
       lower), so a claim always makes progress while anything is claimable.
    2. *Claimed* (the ``UPDATE``'s filter): candidates all of whose earlier open events are
       candidates too. This drops the ones whose predecessor another relay has locked
       right now (``SKIP LOCKED`` skipped it) or cut by ``LIMIT``.

    **Locks**: PostgreSQL: one statement; the candidate rows are locked ``FOR UPDATE SKIP
    LOCKED`` (two relays never claim the same row; a row another relay is claiming is
    skipped, not waited for) and the row versions are re-checked after the lock, so a row
    claimed and committed by another relay since the statement's snapshot is dropped.
    The predecessor checks read the statement's snapshot: a predecessor being claimed
    concurrently is seen as still open and blocks (conservative; the next claim takes it).
    SQLite: the same statement inside the IMMEDIATE transaction, which holds the database's
    write lock, so claims are serialized.

    **Indexes**: the candidates scan ``core_outbox_open_seq_idx`` (sequence, partial on
    open statuses) in order and stop at ``limit``; each predecessor check is a probe of
    ``core_outbox_open_agg_idx`` (aggregate, aggregate_sequence, partial on open
    statuses), which holds only undelivered rows however long the aggregate's history.

    Times come from ``apps.core.clock`` (the relays' clocks are assumed in sync within a
    fraction of the lease).
    """
    if limit <= 0:
        return []
    now = clock.now()
    lease = now + dt.timedelta(seconds=lease_seconds)
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(now), adapt(now), adapt(now), adapt(now), int(limit), adapt(lease), worker]
    sql = _claim_sql(connection.vendor)
    with transaction.atomic():
        events = list(OutboxEvent.objects.raw(sql, params))
    return outbox_batch_order(events)


def outbox_ack(*, ids: list[Any], worker: str) -> int:
    """Record ``ids`` as delivered (the sink answered 2xx). Returns how many rows changed.

    Compare-and-set on ``status = delivering``: the events of this worker's claim, and also
    those whose lease another relay has taken over since (the sink did receive them; the
    other relay's own acknowledgement or retry then changes nothing, and the consumer
    dedupes the second copy). Events put back to ``pending`` (a retry, a requeue) or already
    ``delivered`` or ``failed`` are left alone: they will be, or were, sent again.
    """
    now = clock.now()
    del worker  # any open claim: see the docstring
    return OutboxEvent.objects.filter(pk__in=list(ids), status=OutboxEvent.Status.DELIVERING).update(
        status=OutboxEvent.Status.DELIVERED,
        delivered_at=now,
        lease_expires_at=None,
        claimed_by="",
        last_error="",
    )


def _max_attempts() -> int:
    from django.conf import settings

    return max(1, int(getattr(settings, "DATA_PLATFORM_MAX_ATTEMPTS", 15)))


def outbox_retry(*, ids: list[Any], worker: str, error: str, next_attempt_at: dt.datetime) -> dict[str, int]:
    """A delivery attempt of ``ids`` failed: count it and put the events back to
    ``pending`` until ``next_attempt_at``, or mark them ``failed`` when this was their
    ``DATA_PLATFORM_MAX_ATTEMPTS``-th attempt. Returns ``{"retried": n, "failed": m}``.

    Only rows still claimed by ``worker`` (its token) and ``delivering`` change: a relay
    whose lease expired and was taken over must not put the new claim back to pending nor
    count an attempt twice. One transaction, two conditional UPDATEs (F expressions).
    """
    max_attempts = _max_attempts()
    error = error[:500]
    mine = OutboxEvent.objects.filter(
        pk__in=list(ids), status=OutboxEvent.Status.DELIVERING, claimed_by=worker
    )
    with transaction.atomic():
        failed = mine.filter(attempts__gte=max_attempts - 1).update(
            status=OutboxEvent.Status.FAILED,
            attempts=F("attempts") + 1,
            lease_expires_at=None,
            claimed_by="",
            next_attempt_at=None,
            last_error=error,
        )
        retried = mine.update(
            status=OutboxEvent.Status.PENDING,
            attempts=F("attempts") + 1,
            lease_expires_at=None,
            claimed_by="",
            next_attempt_at=next_attempt_at,
            last_error=error,
        )
    return {"retried": retried, "failed": failed}


def outbox_release(*, ids: list[Any], worker: str, error: str, next_attempt_at: dt.datetime) -> int:
    """Give ``ids`` back without an attempt (the circuit breaker refused the call, nothing
    was sent): ``pending`` again from ``next_attempt_at``, ``attempts`` unchanged. Only this
    worker's claim. Returns how many."""
    return OutboxEvent.objects.filter(
        pk__in=list(ids), status=OutboxEvent.Status.DELIVERING, claimed_by=worker
    ).update(
        status=OutboxEvent.Status.PENDING,
        lease_expires_at=None,
        claimed_by="",
        next_attempt_at=next_attempt_at,
        last_error=error[:500],
    )


def outbox_requeue(
    *,
    event_ids: list[Any] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> int:
    """Queue events for delivery again (a redelivery the data platform asked for): those
    with the given ids, or those that occurred in ``[since, until)`` — whatever their
    status, ``failed`` and ``delivered`` included. They become ``pending``, due now, with
    ``attempts`` 0 and no lease; ``last_error`` is kept for the record. Returns how many;
    the relay is woken when the caller's transaction (or this one) commits.

    A requeued event is outside the per-aggregate ordering promise (``outbox_claim``): it
    is an old event sent again. An event in flight (``delivering``) is sent again too: the
    in-flight relay's acknowledgement no longer matches it.
    """
    if event_ids is None and since is None and until is None:
        raise ValueError("outbox_requeue needs event_ids or a time range")
    qs = OutboxEvent.objects.all()
    if event_ids is not None:
        qs = qs.filter(pk__in=list(event_ids))
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    with transaction.atomic():
        count = qs.update(
            status=OutboxEvent.Status.PENDING,
            attempts=0,
            next_attempt_at=None,
            lease_expires_at=None,
            claimed_by="",
        )
        if count:
            _wake_on_commit()
    return count


def outbox_prune(*, delivered_before: dt.datetime, chunk: int = 2000) -> int:
    """Delete ``delivered`` events delivered before ``delivered_before`` (the retention
    window has passed); never ``pending``, ``delivering`` or ``failed`` ones. Rows that
    reference them (the relay's attempt links) go with them (``CASCADE``). In chunks of
    ``chunk`` events, one short transaction each, so a big prune never holds locks long.
    Returns how many events were deleted."""
    total = 0
    while True:
        ids = list(
            OutboxEvent.objects.filter(
                status=OutboxEvent.Status.DELIVERED, delivered_at__lt=delivered_before
            ).values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return total
        with transaction.atomic():
            _, per_model = OutboxEvent.objects.filter(
                pk__in=ids, status=OutboxEvent.Status.DELIVERED
            ).delete()
        total += per_model.get(OutboxEvent._meta.label, 0)
