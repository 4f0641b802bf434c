"""A real Celery worker process executes a task from the real broker and stores its result.

On the PostgreSQL + Redis run the worker is a separate OS process consuming from Redis and
writing the result to the test database (django-celery-results); a private queue keeps
other test processes' workers out of the way. (The embedded default — filesystem broker,
SQLite — is exercised end to end by test_run_stack.py.)
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.core.tasks import ping_task
from tests.utils.processes import celery_worker

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_worker_process_runs_a_task_from_redis(require_postgres):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs CELERY_BROKER_URL=redis://... (CI's PostgreSQL + Redis run)")
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    database_url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update({"DJANGO_SETTINGS_MODULE": "joopang.settings.test", "DATABASE_URL": database_url})
    worker = celery_worker(queue=queue, env=env, cwd=ROOT)
    try:
        result = ping_task.apply_async(args=["annyeong"], queue=queue)
        assert result.get(timeout=90) == "annyeong"
        from django_celery_results.models import TaskResult

        stored = TaskResult.objects.get(task_id=result.id)
        assert stored.status == "SUCCESS"
        assert stored.task_name == "joopang.core.ping"
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode is not None, output
