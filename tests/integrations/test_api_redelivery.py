"""Issue 22 "Show", end to end through the data platform's API: a real relay and a real
signed receiver on loopback. Events that failed while the receiver was down are asked for
again by id and by time range and arrive; an event already delivered is sent once more
(the receiver counts the copy: consumers dedupe on id); the stats show the backlog grow
while the receiver is down and drain when it is back."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from apps.core.models import OutboxEvent
from apps.integrations.services import relay_deliver_batch
from tests.integrations.api_helpers import REDELIVERIES_URL, STATS_URL, person_client, platform_client
from tests.integrations.relay_support import deliver_until, publish_events, receiver, relay_settings

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["receiver", "relay_settings"]  # fixtures


def _status(ids: list) -> list[str]:
    by_id = dict(OutboxEvent.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[i] for i in ids]


def test_failed_events_are_redelivered_by_id_and_by_range_through_the_api(relay_settings, receiver):
    # given six events that failed while the receiver answered 500
    relay_settings.DATA_PLATFORM_MAX_ATTEMPTS = 2
    receiver.set_faults("500")
    ids = publish_events(6, aggregates=3, prefix="redeliver")
    deliver_until(lambda: OutboxEvent.objects.filter(status="failed").count() == 6)
    platform = platform_client()
    assert platform.get(STATS_URL).json()["failed"] == 6
    receiver.set_faults("ok")

    # when the data platform asks for two by id
    by_id = platform.post(REDELIVERIES_URL, {"event_ids": [str(i) for i in ids[:2]]}, format="json")
    deliver_until(lambda: not OutboxEvent.objects.filter(status__in=["pending", "delivering"]).exists())

    # then those two arrive, the others stay failed
    assert (by_id.status_code, by_id.json()) == (202, {"count": 2, "not_found": []})
    assert receiver.event_ids() == {str(i) for i in ids[:2]}
    assert _status(ids) == ["delivered"] * 2 + ["failed"] * 4

    # when operations ask for the rest by the time range they occurred in
    events = OutboxEvent.objects.filter(pk__in=ids[2:])
    start = min(e.occurred_at for e in events)
    end = max(e.occurred_at for e in events) + dt.timedelta(milliseconds=1)
    by_range = person_client("ops_admin").post(
        REDELIVERIES_URL, {"from": start.isoformat(), "to": end.isoformat()}, format="json"
    )
    deliver_until(lambda: not OutboxEvent.objects.filter(status__in=["pending", "delivering"]).exists())

    # then every event has arrived exactly once
    assert (by_range.status_code, by_range.json()["count"]) == (202, 4)
    assert receiver.event_ids() == {str(i) for i in ids}
    assert receiver.stats()["duplicates"] == 0

    # and a delivered event asked for again is sent again: a second copy, the same id
    again = platform.post(REDELIVERIES_URL, {"event_ids": [str(ids[0])]}, format="json")
    deliver_until(lambda: not OutboxEvent.objects.filter(status__in=["pending", "delivering"]).exists())
    assert again.json()["count"] == 1
    assert (receiver.stats()["distinct"], receiver.stats()["duplicates"]) == (6, 1)


def test_stats_show_the_backlog_grow_while_the_receiver_is_down_and_drain_after(relay_settings, receiver):
    platform = platform_client()
    receiver.set_faults("500")
    publish_events(5, aggregates=5, prefix="lag")

    for _ in range(3):  # a few calls, each answered 500
        relay_deliver_batch()
    first = platform.get(STATS_URL).json()
    time.sleep(1.1)
    later = platform.get(STATS_URL).json()
    receiver.set_faults("ok")
    deliver_until(lambda: OutboxEvent.objects.filter(status="delivered").count() == 5)
    drained = platform.get(STATS_URL).json()

    assert first["pending"] + first["delivering"] == 5
    assert first["deliveries_last_5m"]["failed"] >= 1 and first["deliveries_last_5m"]["ok"] == 0
    assert first["last_success_at"] is None
    assert later["oldest_pending_age_seconds"] >= first["oldest_pending_age_seconds"] + 1
    assert (drained["pending"], drained["delivering"], drained["delivered"]) == (0, 0, 5)
    assert drained["oldest_pending_age_seconds"] == 0
    assert drained["deliveries_last_5m"]["ok"] >= 1
    assert drained["last_success_at"] is not None
