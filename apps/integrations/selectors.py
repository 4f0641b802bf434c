"""Read queries of the integrations app: the data platform's pull feed and the outbox's
health (``GET /integrations/events``, ``GET /integrations/outbox/stats``, the ops page).

Only ``apps.core`` (the outbox table) and this app's own attempt log are read: the relay
and its API never look into the flows that published the events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.integrations.models import DeliveryAttempt

#: How long a hole in the sequence may stay open before the feed reads past it (seconds).
#: ``sequence`` comes from a PostgreSQL sequence, drawn when an event is published, not
#: when its transaction commits: a missing number right before visible ones is either a
#: transaction still in flight (it will appear, with that lower number) or one that rolled
#: back (it never will). The feed stops before a hole younger than this, so a consumer that
#: pages ``after=<last sequence>`` does not skip an event that commits a moment late; past
#: it, the hole is taken for a rollback. Override with ``INTEGRATIONS_FEED_SETTLE_SECONDS``.
FEED_SETTLE_SECONDS = 30
#: The window of ``deliveries_last_5m``.
RECENT_WINDOW = dt.timedelta(minutes=5)


def feed_settle_seconds() -> int:
    return int(getattr(settings, "INTEGRATIONS_FEED_SETTLE_SECONDS", FEED_SETTLE_SECONDS))


@dataclass(frozen=True)
class FeedPage:
    events: list[OutboxEvent]
    #: The page is full: more events may follow right away.
    has_more: bool
    #: The page stopped before a hole in the sequence younger than the settle time.
    held_back: bool


def outbox_event_feed(*, after: int, limit: int, settle_seconds: int | None = None) -> FeedPage:
    """Events with ``sequence > after`` in sequence order, at most ``limit``, stopping
    before the first hole in the numbering (after ``after``, or between two events) whose
    next event is younger than the settle time (see ``FEED_SETTLE_SECONDS``). One query
    (``limit + 1`` rows by the unique sequence index)."""
    settle = feed_settle_seconds() if settle_seconds is None else settle_seconds
    rows = list(OutboxEvent.objects.filter(sequence__gt=after).order_by("sequence")[: limit + 1])
    horizon = clock.now() - dt.timedelta(seconds=settle)
    served: list[OutboxEvent] = []
    # ``after=0`` starts at the oldest event kept: the numbers below it are history
    # (pruned, rolled back, or drawn by another database's tests), not a hole to wait at.
    expected = after + 1 if after > 0 else None
    for event in rows[:limit]:
        if expected is not None and event.sequence != expected and event.occurred_at > horizon:
            return FeedPage(events=served, has_more=False, held_back=True)
        served.append(event)
        expected = event.sequence + 1
    return FeedPage(events=served, has_more=len(rows) > limit, held_back=False)


def outbox_event_ids_existing(*, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``event_ids`` are in the outbox (still within retention)."""
    return set(OutboxEvent.objects.filter(pk__in=event_ids).values_list("pk", flat=True))


def outbox_stats(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The outbox's state for ``GET /integrations/outbox/stats`` and the ops page.

    ``pending`` .. ``failed``: events per status. ``oldest_pending_age_seconds``: age of
    the oldest event not delivered yet (``pending`` or ``delivering``; 0 when none).
    ``last_success_at``: when the last acknowledged webhook call ended (its start plus its
    duration; ``None`` when none is on record). ``deliveries_last_5m``: webhook calls
    (batches) started in the last five minutes that were acknowledged (``ok``) and that
    were not (any other outcome, circuit-open skips included). Four queries.
    """
    now = now or clock.now()
    Status = OutboxEvent.Status
    counts = dict.fromkeys(Status.values, 0)
    for status, n in OutboxEvent.objects.order_by().values_list("status").annotate(n=Count("pk")):
        counts[status] = n
    oldest = OutboxEvent.objects.filter(status__in=[Status.PENDING, Status.DELIVERING]).aggregate(
        m=Min("occurred_at")
    )["m"]
    last_ok = (
        DeliveryAttempt.objects.filter(outcome=DeliveryAttempt.Outcome.OK)
        .order_by("-started_at", "-id")
        .values_list("started_at", "duration_ms")
        .first()
    )
    recent = DeliveryAttempt.objects.filter(started_at__gte=now - RECENT_WINDOW).aggregate(
        ok=Count("pk", filter=Q(outcome=DeliveryAttempt.Outcome.OK)),
        failed=Count("pk", filter=~Q(outcome=DeliveryAttempt.Outcome.OK)),
    )
    return {
        "pending": counts[Status.PENDING],
        "delivering": counts[Status.DELIVERING],
        "delivered": counts[Status.DELIVERED],
        "failed": counts[Status.FAILED],
        "oldest_pending_age_seconds": max(0, int((now - oldest).total_seconds())) if oldest else 0,
        "last_success_at": last_ok[0] + dt.timedelta(milliseconds=last_ok[1]) if last_ok else None,
        "deliveries_last_5m": {"ok": recent["ok"], "failed": recent["failed"]},
    }
