"""Celery queues by kind (issue 25 item 5): expiry, outbox, reports and the default.

Every task and every beat entry goes to a declared queue; a worker started without ``-Q``
consumes them all (``make run``, the bench and docker start one worker that does
everything); a worker started with ``-Q outbox`` runs the outbox's tasks and leaves the
others waiting. The worker test runs real worker processes against a Redis server of its
own (a free port, started and stopped by the test: no other test's messages can reach its
queues) and the test database (PostgreSQL, where the results are stored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from joopang.celery import app
from tests.utils.processes import celery_worker

ROOT = Path(__file__).resolve().parents[2]


def _project_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_every_task_and_beat_entry_goes_to_a_declared_queue():
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert declared == {"celery", "expiry", "outbox", "reports"}
    tasks = _project_tasks()
    assert len(tasks) >= 19  # the autodiscovered tasks (an empty registry would pass vacuously)
    routed = {name: _queue_of(name) for name in tasks}
    assert {name for name, queue in routed.items() if queue not in declared} == set()
    # the routes name only tasks that exist (a renamed task would silently fall to the default)
    assert {name for names in settings.TASK_KINDS.values() for name in names} - set(tasks) == set()
    # every beat entry names a registered task, hence a declared queue
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in routed, entry
        assert "queue" not in entry.get("options", {}), entry  # the routes decide, not the entry
    # each kind where it belongs
    assert {name for name, queue in routed.items() if queue == "expiry"} == {
        "joopang.inventory.reservation_expire",
        "joopang.inventory.reservations_expire_sweep",
        "joopang.orders.order_expire",
        "joopang.orders.orders_expire_due",
        "joopang.coupons.coupons_expire_due",
    }
    assert {name for name, queue in routed.items() if queue == "outbox"} == {"joopang.integrations.relay_run"}
    assert {name for name, queue in routed.items() if queue == "reports"} == {
        "joopang.analytics.aggregates_refresh_due",
        "joopang.catalog.popularity_refresh",
        "joopang.payments.wallets_reconcile",
    }
    assert routed["joopang.core.ping"] == "celery"
    assert routed["joopang.orders.order_refund_send"] == "celery"


def test_a_worker_without_q_consumes_every_declared_queue():
    """What ``celery worker`` (no -Q) consumes: Celery's consume_from with no selection."""
    app.amqp.queues.select(None)  # no -Q
    assert set(app.amqp.queues.consume_from) == {"celery", "expiry", "outbox", "reports"}


def test_the_relay_queue_follows_data_platform_relay_queue(monkeypatch):
    """DATA_PLATFORM_RELAY_QUEUE (the relay's queue, older than the split) renames the
    outbox queue for the routes and the worker alike."""
    monkeypatch.setenv("DATA_PLATFORM_RELAY_QUEUE", "relay-eu")
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='joopang.settings.test'; django.setup();"
        "from django.conf import settings as s;"
        "print(sorted(q.name for q in s.CELERY_TASK_QUEUES), s.CELERY_TASK_ROUTES['joopang.integrations.relay_run'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['celery', 'expiry', 'relay-eu', 'reports'] {'queue': 'relay-eu'}"


# --- real workers ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate, *, timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker died while waiting for {what}: {proc.communicate()[0]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def private_redis():
    """A throwaway Redis server on a free port (the machine's Redis is shared)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server on PATH (a private broker for this test)")
    import redis

    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        _wait(lambda: _pings(client), timeout=15, what="the private Redis")
        yield url, client
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_with_q_runs_only_its_queue_and_one_without_q_runs_them_all(require_postgres, private_redis):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs CELERY_BROKER_URL=redis://... (CI's PostgreSQL + Redis run)")
    from django_celery_results.models import TaskResult

    broker_url, redis_client = private_redis
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DATA_PLATFORM_RELAY_QUEUE"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "joopang.settings.test",
            "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_BROKER_URL": broker_url,
        }
    )
    # one harmless task of each kind, routed by the routes (no queue= here), results stored
    one_of_each = {
        "outbox": "joopang.integrations.relay_run",  # no webhook set: delivers nothing
        "expiry": "joopang.coupons.coupons_expire_due",
        "reports": "joopang.catalog.popularity_refresh",
        "celery": "joopang.core.ping",
    }
    sent: dict[str, str] = {}
    with app.connection_for_write(broker_url) as conn:
        for queue, name in one_of_each.items():
            assert _queue_of(name) == queue
            sent[queue] = app.send_task(name, connection=conn, ignore_result=False).id

    def done(queue: str) -> bool:
        return TaskResult.objects.filter(task_id=sent[queue], status="SUCCESS").exists()

    # a worker on the outbox queue only
    worker = celery_worker(queue="outbox", env=env, cwd=ROOT)
    try:
        _wait(lambda: done("outbox"), timeout=60, what="the outbox task", proc=worker)
        time.sleep(2)  # a worker consuming other queues would have taken their messages by now
        assert [q for q in ("expiry", "reports", "celery") if done(q)] == []
        assert {q: redis_client.llen(q) for q in ("outbox", "expiry", "reports", "celery")} == {
            "outbox": 0,
            "expiry": 1,
            "reports": 1,
            "celery": 1,
        }
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode is not None, output

    # a worker started as make run / the bench / docker start it: no -Q, every queue
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "joopang",
        "worker",
        "--pool",
        "solo",
        "--hostname",
        "all@%h",
    ]
    argv += ["--without-mingle", "--without-gossip", "--loglevel", "WARNING"]
    worker = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait(lambda: all(done(q) for q in sent), timeout=60, what="every queue's task", proc=worker)
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
    assert TaskResult.objects.get(task_id=sent["celery"]).result == '"pong"'
