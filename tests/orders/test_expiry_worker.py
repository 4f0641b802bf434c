"""An unpaid order is cancelled on time by a real Celery worker (issue 20 "Show" 6).

A worker process with its embedded beat consumes from Redis and writes to the test
database. The order is placed through the service (pay-by time 15 minutes out); its pay-by
time is then moved 3 seconds ahead. Beat's expiry sweep (``orders-expire-due``, every
``ORDERS_EXPIRE_SWEEP_SECONDS`` = 5 s; no per-order countdown task) cancels the order
within a few seconds of its time and the units are available again.
Only with CELERY_BROKER_URL=redis://... on PostgreSQL (CI's second run)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.core import clock
from apps.inventory.models import Reservation
from apps.inventory.selectors import available_by_sku_codes, stock_drift
from apps.orders.models import Order
from tests.orders.factories import MemberFactory, items_of, place, sku_stock, stocked

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOLD_SECONDS = 3


def _worker(tmp: str) -> subprocess.Popen[str]:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    database_url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update({"DJANGO_SETTINGS_MODULE": "joopang.settings.test", "DATABASE_URL": database_url})
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "joopang",
            "worker",
            "--beat",
            "--scheduler",
            "celery.beat:PersistentScheduler",
            "--schedule",
            str(Path(tmp) / "beat-schedule"),
            "--pool",
            "solo",
            "--hostname",
            f"orders-expiry-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_real_worker_cancels_an_unpaid_order_on_time_and_the_stock_returns(require_postgres, kr):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs CELERY_BROKER_URL=redis://... (CI's PostgreSQL + Redis run)")
    from joopang.celery import app

    # given: 10 units available; an unpaid order holds 4 of them
    _, sku = stocked(kr=12900, stock={"KR": 10})
    order = place(MemberFactory(), kr, items_of((sku, 4)))
    assert available_by_sku_codes(codes=[sku], market_code="KR") == {sku: 6}

    with tempfile.TemporaryDirectory() as tmp:
        worker = _worker(tmp)
        try:
            # ... a worker with its beat, up and answering (its start-up is not the sweep's
            # business: on a busy machine it takes longer than the hold)
            hostname = f"orders-expiry-{os.getpid()}@{socket.gethostname()}"
            started = time.monotonic() + 90
            while not app.control.ping(destination=[hostname], timeout=1):
                assert worker.poll() is None, "the worker died"
                assert time.monotonic() < started, "the worker did not start"
            # ... and the order's pay-by time 3 seconds from now
            due = clock.now() + dt.timedelta(seconds=HOLD_SECONDS)
            Order.objects.filter(pk=order.pk).update(expires_at=due)
            Reservation.objects.filter(owner=order.owner).update(expires_at=due)
            # when: the pay-by time passes
            # then: the worker's beat sweep cancels it within a few seconds of that time
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                order.refresh_from_db()
                if order.status != "pending":
                    break
                assert worker.poll() is None, "the worker died"
                time.sleep(0.25)
            cancelled_after = clock.now() - due
        finally:
            worker.terminate()
            output, _ = worker.communicate(timeout=30)
            app.control.purge()  # what beat queued and the worker left (this test's Redis db)

    assert order.status == "cancelled", output
    assert order.cancelled_at is not None and order.cancelled_at >= due
    assert cancelled_after < dt.timedelta(seconds=15), cancelled_after
    last = order.status_history.order_by("-pk").first()
    assert (last.from_status, last.to_status, last.actor_kind, last.reason) == (
        "pending",
        "cancelled",
        "system",
        "Not paid in time",
    )
    # and: the 4 units are available again, nothing drifted
    assert available_by_sku_codes(codes=[sku], market_code="KR") == {sku: 10}
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (10, 0)
    # (the hold ends with its order, or just before it: the stock sweep runs at the same 5 s
    # pace and expires holds due at the same time; either way once, and none stays active)
    statuses = list(Reservation.objects.filter(owner=order.owner).values_list("status", flat=True))
    assert len(statuses) == 1 and statuses[0] in {"released", "expired"}, statuses
    assert stock_drift() == []
