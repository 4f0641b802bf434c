"""The data platform's API (issue 22 item 4, API.md "External data platform"): the pull
feed, redelivery by ids and by time range, and the outbox stats."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.integrations.models import DeliveryAttempt
from tests.integrations.api_helpers import (
    EVENTS_URL,
    REDELIVERIES_URL,
    STATS_URL,
    person_client,
    platform_client,
    published,
    raw_event,
)

pytestmark = pytest.mark.django_db

ENVELOPE = {
    "id",
    "sequence",
    "type",
    "version",
    "occurred_at",
    "market",
    "aggregate_type",
    "aggregate_id",
    "aggregate_sequence",
    "payload",
}


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- GET /integrations/events ----------------------------------------------------------


def test_feed_serves_events_in_sequence_order_with_their_envelope():
    events = published(3, aggregate_id="88", sku="T00001-1")
    api = platform_client()

    response = api.get(EVENTS_URL)

    assert response.status_code == 200
    body = response.json()
    assert [e["id"] for e in body["results"]] == [str(e.id) for e in events]
    first = body["results"][0]
    assert set(first) == ENVELOPE
    assert first["sequence"] == events[0].sequence
    assert first["type"] == "inventory.adjusted"
    assert first["version"] == 1
    assert first["market"] == "KR"
    assert (first["aggregate_type"], first["aggregate_id"]) == ("stock_level", "88")
    assert [e["aggregate_sequence"] for e in body["results"]] == [1, 2, 3]
    assert first["payload"] == {"n": 0, "sku": "T00001-1"}
    occurred = events[0].occurred_at
    assert (
        first["occurred_at"]
        == occurred.strftime("%Y-%m-%dT%H:%M:%S.") + f"{occurred.microsecond // 1000:03d}Z"
    )
    assert body["has_more"] is False
    assert _query(body["next"]) == {"after": [str(events[-1].sequence)], "limit": ["100"]}


def test_feed_pages_by_sequence_with_the_next_link_until_caught_up():
    events = published(5)
    api = platform_client()
    seen: list[str] = []
    url = f"{EVENTS_URL}?limit=2"
    pages = []

    for _ in range(4):
        body = api.get(url).json()
        pages.append((len(body["results"]), body["has_more"]))
        seen += [e["id"] for e in body["results"]]
        url = body["next"]

    assert pages == [(2, True), (2, True), (1, False), (0, False)]
    assert seen == [str(e.id) for e in events]
    assert _query(url)["after"] == [str(events[-1].sequence)]  # caught up: poll the same place


def test_feed_after_skips_what_the_consumer_has():
    events = published(4)
    api = platform_client()

    body = api.get(EVENTS_URL, {"after": events[1].sequence}).json()

    assert [e["id"] for e in body["results"]] == [str(events[2].id), str(events[3].id)]


def test_feed_waits_at_a_fresh_hole_in_the_numbering_and_serves_the_late_commit_in_order():
    """Sequence 3 was drawn by a transaction still committing when 4 became visible: the
    feed stops before the hole; once 3 commits it is served, then 4, in order."""
    old = dt.timedelta(minutes=5)
    raw_event(1, age=old)
    raw_event(2, age=old)
    raw_event(4)
    api = platform_client()

    first = api.get(EVENTS_URL).json()
    raw_event(3)
    second = api.get(first["next"]).json()

    assert [e["sequence"] for e in first["results"]] == [1, 2]
    assert _query(first["next"])["after"] == ["2"]
    assert [e["sequence"] for e in second["results"]] == [3, 4]


def test_feed_waits_at_a_fresh_hole_right_after_the_cursor_but_not_below_the_oldest_kept():
    raw_event(1000, age=dt.timedelta(seconds=1))  # numbers below: history, not a hole
    raw_event(1002, age=dt.timedelta(seconds=1))
    api = platform_client()

    from_start = api.get(EVENTS_URL).json()
    after_first = api.get(EVENTS_URL, {"after": 1000}).json()

    assert [e["sequence"] for e in from_start["results"]] == [1000]
    assert after_first["results"] == []
    assert _query(after_first["next"])["after"] == ["1000"]


def test_feed_reads_past_a_hole_older_than_the_settle_time_as_a_rollback(settings):
    settings.INTEGRATIONS_FEED_SETTLE_SECONDS = 30
    raw_event(1, age=dt.timedelta(minutes=5))
    raw_event(3, age=dt.timedelta(seconds=31))  # 2 rolled back 31 s ago
    raw_event(5)  # 4 missing for less than the settle time

    body = platform_client().get(EVENTS_URL).json()

    assert [e["sequence"] for e in body["results"]] == [1, 3]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"limit": "0"}, "limit", "min_value"),
        ({"limit": "1001"}, "limit", "max_value"),
        ({"limit": "many"}, "limit", "invalid"),
        ({"after": "-1"}, "after", "min_value"),
        ({"after": "1.5"}, "after", "invalid"),
        ({"after": str(2**63)}, "after", "max_value"),
    ],
)
def test_feed_refuses_bad_paging_values_with_a_field_error(params, field, code):
    published(1)

    response = platform_client().get(EVENTS_URL, params)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "request.invalid"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]


def test_feed_limit_bounds_the_page_at_1000():
    published(1001)

    body = platform_client().get(EVENTS_URL, {"limit": 1000}).json()

    assert len(body["results"]) == 1000
    assert body["has_more"] is True


def test_feed_is_one_query_after_authentication(django_assert_num_queries):
    published(3)
    api = platform_client()
    api.get(EVENTS_URL)  # warm: nothing cached between requests but the schema

    # user by token, its permissions (two: Django's ModelBackend), the page
    with django_assert_num_queries(4):
        response = api.get(EVENTS_URL, {"limit": 50})

    assert len(response.json()["results"]) == 3


# --- POST /integrations/redeliveries ---------------------------------------------------


def _finish(events: list[OutboxEvent], status: str, attempts: int = 12) -> None:
    OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(
        status=status, attempts=attempts, last_error="HTTP 500", delivered_at=clock.now()
    )


def test_redelivery_by_ids_queues_failed_and_delivered_events_again_and_names_unknown_ids():
    failed, delivered, untouched = published(3)
    _finish([failed], "failed")
    _finish([delivered, untouched], "delivered", attempts=1)
    unknown = uuid.uuid4()

    response = platform_client().post(
        REDELIVERIES_URL, {"event_ids": [str(failed.id), str(delivered.id), str(unknown)]}, format="json"
    )

    assert response.status_code == 202
    assert response.json() == {"count": 2, "not_found": [str(unknown)]}
    rows = {e.pk: e for e in OutboxEvent.objects.all()}
    for event in (failed, delivered):
        row = rows[event.pk]
        assert (row.status, row.attempts, row.next_attempt_at, row.lease_expires_at) == (
            "pending",
            0,
            None,
            None,
        )
    assert (rows[untouched.pk].status, rows[untouched.pk].attempts) == ("delivered", 1)


def test_redelivery_by_time_range_takes_from_inclusive_to_exclusive():
    now = clock.now().replace(microsecond=0)
    before = raw_event(1, occurred_at=now - dt.timedelta(hours=3), status="delivered")
    start = raw_event(2, occurred_at=now - dt.timedelta(hours=2), status="failed")
    inside = raw_event(3, occurred_at=now - dt.timedelta(minutes=90), status="delivered")
    end = raw_event(4, occurred_at=now - dt.timedelta(hours=1), status="delivered")
    body = {
        "from": (now - dt.timedelta(hours=2)).isoformat(),
        "to": (now - dt.timedelta(hours=1)).isoformat(),
    }

    response = person_client("ops_admin").post(REDELIVERIES_URL, body, format="json")

    assert response.status_code == 202
    assert response.json() == {"count": 2, "not_found": []}
    statuses = dict(OutboxEvent.objects.values_list("sequence", "status"))
    assert statuses == {
        before.sequence: "delivered",
        start.sequence: "pending",
        inside.sequence: "pending",
        end.sequence: "delivered",
    }


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({}, "event_ids", "required"),
        ({"event_ids": [], "from": "2026-11-30T00:00:00Z"}, "event_ids", "min_length"),
        (
            {"event_ids": [str(uuid.uuid4())], "from": "2026-11-30T00:00:00Z", "to": "2026-11-30T01:00:00Z"},
            "event_ids",
            "ambiguous",
        ),
        ({"from": "2026-11-30T00:00:00Z"}, "to", "required"),
        ({"to": "2026-11-30T00:00:00Z"}, "from", "required"),
        ({"from": "2026-11-30T01:00:00Z", "to": "2026-11-30T01:00:00Z"}, "to", "before_start"),
        ({"from": "yesterday", "to": "2026-11-30T01:00:00Z"}, "from", "invalid"),
        ({"event_ids": ["not-a-uuid"]}, "event_ids", "invalid"),
        ({"event_ids": [str(uuid.uuid4()) for _ in range(1001)]}, "event_ids", "max_length"),
    ],
)
def test_redelivery_refuses_anything_but_exactly_one_form(body, field, code):
    event = published(1)[0]
    _finish([event], "failed")

    response = platform_client().post(REDELIVERIES_URL, body, format="json")

    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "request.invalid"
    assert (problem["errors"][0]["field"].split(".")[0], problem["errors"][0]["code"]) == (field, code)
    assert OutboxEvent.objects.get().status == "failed"


def test_redelivery_errors_are_in_the_callers_language():
    api = person_client("ops_admin")

    response = api.post(REDELIVERIES_URL, {}, format="json", HTTP_ACCEPT_LANGUAGE="ko")

    assert response.status_code == 400
    assert response["Content-Language"] == "ko"
    assert response.json()["errors"][0]["message"] == "event_ids를 보내거나, from과 to로 기간을 보내 주세요."


def test_redelivery_with_the_same_idempotency_key_answers_the_same_once():
    event = published(1)[0]
    _finish([event], "failed")
    api = platform_client()

    first = api.post(
        REDELIVERIES_URL, {"event_ids": [str(event.id)]}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    _finish([event], "delivered")
    again = api.post(
        REDELIVERIES_URL, {"event_ids": [str(event.id)]}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json() == {"count": 1, "not_found": []}
    assert again["Idempotent-Replayed"] == "true"
    assert OutboxEvent.objects.get().status == "delivered"  # the replay queued nothing


# --- GET /integrations/outbox/stats ----------------------------------------------------


def _attempt(outcome: str, *, ago: dt.timedelta, duration_ms: int = 40) -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        worker="relay@test",
        started_at=clock.now() - ago,
        duration_ms=duration_ms,
        outcome=outcome,
        event_count=1,
    )


def test_stats_count_statuses_the_oldest_backlog_and_recent_calls():
    raw_event(1, age=dt.timedelta(minutes=10), status="delivered")
    raw_event(2, age=dt.timedelta(seconds=125), status="pending")
    raw_event(3, age=dt.timedelta(seconds=60), status="delivering")
    raw_event(4, age=dt.timedelta(seconds=5), status="pending")
    raw_event(5, age=dt.timedelta(hours=1), status="failed")
    last_ok = _attempt("ok", ago=dt.timedelta(minutes=2), duration_ms=250)
    _attempt("ok", ago=dt.timedelta(minutes=4))
    _attempt("http_error", ago=dt.timedelta(minutes=1))
    _attempt("timeout", ago=dt.timedelta(seconds=30))
    _attempt("circuit_open", ago=dt.timedelta(seconds=10))
    _attempt("ok", ago=dt.timedelta(minutes=6))  # outside the five minutes

    response = platform_client().get(STATS_URL)

    assert response.status_code == 200
    body = response.json()
    assert body.pop("oldest_pending_age_seconds") in (125, 126)
    assert dt.datetime.fromisoformat(body.pop("last_success_at")) == last_ok.started_at + dt.timedelta(
        milliseconds=250
    )
    assert body == {
        "pending": 2,
        "delivering": 1,
        "delivered": 1,
        "failed": 1,
        "deliveries_last_5m": {"ok": 2, "failed": 3},
    }


def test_stats_of_an_empty_outbox():
    response = person_client("ops_admin").get(STATS_URL)

    assert response.json() == {
        "pending": 0,
        "delivering": 0,
        "delivered": 0,
        "failed": 0,
        "oldest_pending_age_seconds": 0,
        "last_success_at": None,
        "deliveries_last_5m": {"ok": 0, "failed": 0},
    }
