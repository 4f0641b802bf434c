"""The outbox ops page (issue 22 item 5) through Django's test client: events by status,
type and market, searched by id, aggregate id or sequence; an event's payload and its
delivery attempts; "Redeliver" from the list and from the event's page (through
outbox_requeue, in the event's history and the log); read-only for everyone; operations
only."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.integrations.models import DeliveryAttempt, DeliveryAttemptEvent
from tests.accounts.factories import staff, system_client
from tests.integrations.api_helpers import raw_event
from tests.utils.logs import record_logs

pytestmark = pytest.mark.django_db

EVENTS = "/admin/core/outboxevent/"
ATTEMPTS = "/admin/integrations/deliveryattempt/"


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.content.decode())


def _listed(response) -> list[int]:  # type: ignore[no-untyped-def]
    return [event.sequence for event in response.context["cl"].result_list]


@pytest.fixture
def ops(client):  # type: ignore[no-untyped-def]
    client.force_login(staff("ops_admin"))
    return client


@pytest.fixture
def outbox() -> dict[str, OutboxEvent]:
    return {
        "paid": raw_event(
            1,
            type="order.paid",
            aggregate_id="6f1c0e2a-8d4b-4a51-9c1e-2b7d9e0f1a22",
            status="delivered",
            attempts=1,
        ),
        "failed": raw_event(
            2, type="wallet.debited", aggregate_id="31", status="failed", attempts=12, last_error="HTTP 500"
        ),
        "pending": raw_event(3, type="inventory.adjusted", aggregate_id="88", status="pending"),
        "us": raw_event(4, type="order.created", aggregate_id="us-order", status="pending"),
    }


def _attempt(event: OutboxEvent, outcome: str, **fields) -> DeliveryAttempt:  # type: ignore[no-untyped-def]
    attempt = DeliveryAttempt.objects.create(
        worker=fields.pop("worker", "relay-1@host"),
        started_at=fields.pop("started_at", clock.now()),
        outcome=outcome,
        event_count=1,
        **fields,
    )
    DeliveryAttemptEvent.objects.create(attempt=attempt, event=event)
    return attempt


def test_ops_list_events_newest_first_and_filter_them(ops, outbox):
    OutboxEvent.objects.filter(pk=outbox["us"].pk).update(market="US")

    everything = ops.get(EVENTS)
    failed = ops.get(EVENTS, {"status": "failed"})
    orders_paid = ops.get(EVENTS, {"type": "order.paid"})
    us = ops.get(EVENTS, {"event_market": "US"})

    assert everything.status_code == 200
    assert _listed(everything) == [4, 3, 2, 1]
    assert _listed(failed) == [2]
    assert _listed(orders_paid) == [1]
    assert _listed(us) == [4]
    page = _text(everything)
    assert "실패" in page and "전송됨" in page and "대기" in page  # statuses in Korean
    assert "HTTP 500" in page


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("event-id", [2]),
        ("31", [2]),
        ("6f1c0e2a-8d4b-4a51-9c1e-2b7d9e0f1a22", [1]),
        ("3", [3]),
        ("nothing", []),
    ],
)
def test_search_finds_an_event_id_an_aggregate_id_or_a_sequence(ops, outbox, term, expected):
    if term == "event-id":
        term = str(outbox["failed"].pk)

    response = ops.get(EVENTS, {"q": term})

    assert response.status_code == 200
    assert _listed(response) == expected


def test_the_list_is_a_fixed_number_of_queries(ops, outbox):
    ops.get(EVENTS)
    for n in range(5, 25):
        raw_event(n)

    with CaptureQueriesContext(connection) as queries:
        response = ops.get(EVENTS)

    assert len(_listed(response)) == 24
    small = len(queries)
    OutboxEvent.objects.filter(sequence__gte=5).delete()
    with CaptureQueriesContext(connection) as again:
        ops.get(EVENTS)
    assert len(again) == small


def test_an_events_page_shows_its_payload_and_every_attempt(ops, outbox):
    event = outbox["failed"]
    OutboxEvent.objects.filter(pk=event.pk).update(
        payload={"wallet_id": 31, "kind": "payment", "amount": 52100}
    )
    earlier = clock.now() - dt.timedelta(minutes=3)
    _attempt(event, "http_error", status_code=500, error="HTTP 500: boom", duration_ms=87, started_at=earlier)
    _attempt(event, "timeout", error="read timeout after 10 s", duration_ms=10003, worker="relay-2@host")

    response = ops.get(f"{EVENTS}{event.pk}/change/")

    assert response.status_code == 200
    page = _text(response)
    assert '"amount": 52100' in page and '"kind": "payment"' in page
    rows = response.context["attempt_rows"]
    assert [(r["outcome"], r["status_code"], r["error"], r["duration_ms"], r["worker"]) for r in rows] == [
        ("시간 초과", "", "read timeout after 10 s", 10003, "relay-2@host"),
        ("HTTP 오류", 500, "HTTP 500: boom", 87, "relay-1@host"),
    ]
    assert "전송 시도" in page
    assert 'id="outbox-redeliver"' in page


def test_redeliver_from_the_list_queues_the_selected_events_with_history_and_a_log(ops, outbox, monkeypatch):
    logs = record_logs(monkeypatch, "apps.integrations.admin.logger")
    chosen = [outbox["failed"], outbox["paid"]]

    response = ops.post(
        EVENTS,
        {"action": "redeliver_selected", ACTION_CHECKBOX_NAME: [str(e.pk) for e in chosen]},
        follow=True,
    )

    assert response.status_code == 200
    assert "이벤트 2건을 재전송 대기열에 넣었습니다." in _text(response)
    rows = {e.sequence: e for e in OutboxEvent.objects.all()}
    assert [(rows[n].status, rows[n].attempts, rows[n].next_attempt_at) for n in (1, 2)] == [
        ("pending", 0, None),
        ("pending", 0, None),
    ]
    assert rows[2].last_error == "HTTP 500"  # kept for the record
    assert (rows[3].status, rows[4].status) == ("pending", "pending")
    history = LogEntry.objects.filter(object_id__in=[str(e.pk) for e in chosen]).order_by("object_id")
    assert len(history) == 2
    assert {h.user.email for h in history} == {"ops_admin-all@staff.test"}
    assert logs == [
        {
            "event": "integrations.redelivery_requested",
            "log_level": "info",
            "by": "admin_list",
            "requested": 2,
            "count": 2,
            "actor_id": history[0].user_id,
            "event_ids": [str(outbox["paid"].pk), str(outbox["failed"].pk)],
        }
    ]


def test_redeliver_button_on_the_events_page_posts_and_a_get_changes_nothing(ops, outbox):
    event = outbox["failed"]
    url = f"{EVENTS}{event.pk}/redeliver/"

    looked = ops.get(url)
    event.refresh_from_db()
    status_after_get = event.status
    posted = ops.post(url, follow=True)
    event.refresh_from_db()

    assert looked.status_code == 302 and status_after_get == "failed"
    assert posted.status_code == 200
    assert "이벤트를 재전송 대기열에 넣었습니다." in _text(posted)
    assert (event.status, event.attempts) == ("pending", 0)


def test_events_and_attempts_are_read_only_for_everyone(client, outbox):
    boss = staff("ops_admin")
    boss.is_superuser = True
    boss.save(update_fields=["is_superuser"])
    client.force_login(boss)
    event = outbox["failed"]
    attempt = _attempt(event, "ok", status_code=200)

    change = client.post(f"{EVENTS}{event.pk}/change/", {"type": "order.paid", "status": "delivered"})
    delete = client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"})
    add = client.get(f"{EVENTS}add/")
    attempt_delete = client.post(f"{ATTEMPTS}{attempt.pk}/delete/", {"post": "yes"})

    assert (change.status_code, delete.status_code, add.status_code, attempt_delete.status_code) == (
        403,
        403,
        403,
        403,
    )
    event.refresh_from_db()
    assert (event.type, event.status) == ("wallet.debited", "failed")
    assert DeliveryAttempt.objects.count() == 1


@pytest.mark.parametrize("role", ["cs_agent", "inventory_manager", "marketing_manager"])
def test_other_staff_cannot_see_or_redeliver(client, outbox, role):
    client.force_login(staff(role))
    event = outbox["failed"]

    listed = client.get(EVENTS)
    page = client.get(f"{EVENTS}{event.pk}/change/")
    redeliver = client.post(f"{EVENTS}{event.pk}/redeliver/")
    action = client.post(EVENTS, {"action": "redeliver_selected", ACTION_CHECKBOX_NAME: [str(event.pk)]})
    attempts = client.get(ATTEMPTS)

    assert [r.status_code for r in (listed, page, redeliver, action, attempts)] == [403] * 5
    event.refresh_from_db()
    assert event.status == "failed"


def test_the_data_platform_has_no_back_office(client, outbox):
    platform, _ = system_client("dw")
    client.force_login(platform.user)

    response = client.get(EVENTS)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_attempts_list_and_page_link_the_events_they_carried(ops, outbox):
    ok = _attempt(outbox["paid"], "ok", status_code=204, duration_ms=12)
    DeliveryAttemptEvent.objects.create(attempt=ok, event=outbox["pending"])
    _attempt(outbox["failed"], "connection_error", error="connection refused")

    listed = ops.get(ATTEMPTS)
    carried = ops.get(ATTEMPTS, {"events": str(outbox["failed"].pk)})
    page = ops.get(f"{ATTEMPTS}{ok.pk}/change/")

    assert listed.status_code == 200
    assert len(listed.context["cl"].result_list) == 2
    assert [a.outcome for a in carried.context["cl"].result_list] == ["connection_error"]
    links = re.findall(r'href="/admin/core/outboxevent/([^/]+)/change/"', page.content.decode())
    assert links == [str(outbox["paid"].pk), str(outbox["pending"].pk)]


def test_the_list_shows_the_outbox_health_above_the_events(ops, outbox):
    _attempt(outbox["paid"], "ok", status_code=200, duration_ms=30)
    _attempt(outbox["failed"], "http_error", status_code=500)

    response = ops.get(EVENTS)

    stats = response.context["outbox_stats"]
    assert (stats["pending"], stats["delivered"], stats["failed"]) == (2, 1, 1)
    assert stats["deliveries_last_5m"] == {"ok": 1, "failed": 1}
    page = _text(response)
    assert 'id="outbox-stats"' in page
    assert "가장 오래된 미전송(초)" in page and "최근 5분 호출(성공 / 실패)" in page
    assert re.search(r'data-stat="failed">\s*1\s*<', page)


def test_redeliver_refuses_more_than_its_cap_and_queues_nothing(ops, outbox, monkeypatch):
    monkeypatch.setattr("apps.integrations.admin.REDELIVER_MAX", 2)
    picked = [outbox["failed"], outbox["paid"], outbox["us"]]

    response = ops.post(
        EVENTS,
        {"action": "redeliver_selected", ACTION_CHECKBOX_NAME: [str(e.pk) for e in picked]},
        follow=True,
    )

    assert "한 번에 최대 2개까지 선택할 수 있습니다" in _text(response)
    assert dict(OutboxEvent.objects.values_list("sequence", "status")) == {
        1: "delivered",
        2: "failed",
        3: "pending",
        4: "pending",
    }
    assert LogEntry.objects.count() == 0
