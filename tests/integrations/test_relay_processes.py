"""The relay as OS processes (issue 22 "Show"): a relay SIGKILLed in the middle of a batch,
after which a new relay delivers every event at least once (the lease expires); and a real
Celery worker woken by a commit, with no beat running, delivering within seconds."""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid

import httpx
import pytest
from django.db import transaction

from apps.core.models import OutboxEvent
from apps.core.outbox import publish
from apps.integrations.receiver import EventReceiver
from tests.integrations.relay_processes import ROOT, base_env, cli, database_url, finish, start_relay
from tests.integrations.relay_support import SECRET
from tests.utils.processes import celery_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _delivered_on(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith('joopang_outbox_events_total{result="delivered"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_relay_killed_mid_batch_loses_nothing(tmp_path):
    # the receiver stores the first batch, then holds the request: the relay is killed
    # before the answer, so the batch stays "delivering" under its lease
    receiver = EventReceiver(secret=SECRET, faults="slow", hang_seconds=60).start()
    try:
        url = database_url(tmp_path)
        env = base_env(
            url,
            webhook_url=receiver.url,
            lease_seconds=3,
            read_timeout=30,
            batch_size=10,
            backoff_base_seconds=0.01,
            backoff_max_seconds=0.05,
        )
        assert cli(env, "publish", "30", "4") == 30

        first = start_relay(env)
        _wait(lambda: receiver.stats()["requests"] >= 1, timeout=60, what="the first batch to arrive")
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL
        stuck = cli(env, "status")
        assert stuck["statuses"] == {"delivering": 10, "pending": 20}
        assert len(stuck["claimants"]) == 1  # the dead relay's claim
        assert receiver.stats()["distinct"] == 10  # stored, never acknowledged

        receiver.set_faults("ok")
        second = start_relay(env, "--until-empty", "--max-seconds", "90")
        finish(second)

        assert cli(env, "status") == {"statuses": {"delivered": 30}, "claimants": []}
        stats = receiver.stats()
        assert stats["distinct"] == 30  # every event, at least once
        assert stats["duplicates"] == 10  # the killed batch, sent again after its lease expired
    finally:
        receiver.stop()


def test_a_commit_wakes_a_real_celery_worker(require_postgres, settings, tmp_path):
    """No beat: only the commit's wake-up queues the relay run (CI's PostgreSQL + Redis job)."""
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs CELERY_BROKER_URL=redis://... (CI's PostgreSQL + Redis run)")
    receiver = EventReceiver(secret=SECRET).start()
    queue = f"relay-test-{uuid.uuid4().hex[:10]}"
    env = base_env(database_url(tmp_path), webhook_url=receiver.url, relay_queue=queue)
    metrics_port = _free_port()
    env["CELERY_METRICS_PORT"] = str(metrics_port)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    worker = celery_worker(queue=queue, env=env, cwd=ROOT)
    settings.DATA_PLATFORM_WEBHOOK_URL = receiver.url
    settings.DATA_PLATFORM_WEBHOOK_SECRET = SECRET
    settings.DATA_PLATFORM_RELAY_QUEUE = queue
    try:
        with transaction.atomic():
            for n in range(5):
                publish(
                    type="test.happened", aggregate_type="thing", aggregate_id=str(n), market="KR", payload={}
                )
        # the worker may still be starting: the queued run waits for it in Redis
        _wait(lambda: receiver.stats()["distinct"] == 5, timeout=90, what="the woken worker to deliver")
        _wait(
            lambda: not OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).exists(),
            timeout=30,
            what="the acknowledgements",
        )
        # a second commit, a second wake-up (the run cleared the flag when it started)
        with transaction.atomic():
            publish(type="test.happened", aggregate_type="thing", aggregate_id="x", market="KR", payload={})
        _wait(lambda: receiver.stats()["distinct"] == 6, timeout=30, what="the second wake-up")
        # the worker's own series (CELERY_METRICS_PORT): what it delivered
        _wait(lambda: _delivered_on(metrics_port) == 6, timeout=10, what="the worker's metrics")
        assert receiver.stats()["duplicates"] == 0
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
        receiver.stop()
