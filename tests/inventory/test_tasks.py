"""Expiry tasks: thin, idempotent; the beat schedule runs the sweep every 5 seconds, the only
expiry of a hold (a reserve queues no task)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings

from apps.inventory import services
from apps.inventory.models import Reservation
from apps.inventory.tasks import reservation_expire_task, reservations_expire_sweep_task
from tests.inventory.factories import stocked_sku

pytestmark = pytest.mark.django_db


def test_the_sweep_is_on_the_beat_schedule_every_5_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["inventory-reservations-expire-sweep"]
    assert (entry["task"], entry["schedule"]) == ("joopang.inventory.reservations_expire_sweep", 5)
    assert settings.INVENTORY_EXPIRE_SWEEP_SECONDS == 5
    assert reservations_expire_sweep_task.name == entry["task"]
    assert reservation_expire_task.name == "joopang.inventory.reservation_expire"


def test_a_reserve_or_an_extension_queues_no_task_and_the_sweep_expires_the_hold(
    kr, clock, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(reservation_expire_task, "apply_async", lambda *a, **kw: sent.append(kw))
    code = stocked_sku({"KR-A": 5})

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rows = services.reservation_create(owner="order:1", lines=[(code, 2)], market=kr)
        services.reservation_extend(owner="order:1", ttl=dt.timedelta(minutes=1))

    assert (sent, callbacks) == ([], [])
    clock.advance(minutes=1)
    assert reservations_expire_sweep_task.run() == 1
    assert Reservation.objects.get(pk=rows[0].pk).status == "expired"


def test_tasks_expire_due_rows_and_are_safe_to_replay(kr, clock):
    code = stocked_sku({"KR-A": 5})
    first = services.reservation_create(
        owner="order:3", lines=[(code, 1)], market=kr, ttl=dt.timedelta(minutes=1)
    )
    services.reservation_create(owner="order:4", lines=[(code, 1)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=1)

    assert reservation_expire_task.run(reservation_ids=[first[0].pk]) == 1
    assert reservation_expire_task.run(reservation_ids=[first[0].pk]) == 0
    assert reservations_expire_sweep_task.run() == 1
    assert reservations_expire_sweep_task.run() == 0
    assert set(Reservation.objects.values_list("status", flat=True)) == {"expired"}
