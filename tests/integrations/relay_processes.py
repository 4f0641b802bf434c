"""Relay processes for the tests: a database both the test and its subprocesses reach, the
subprocess environment, and the ``run_relay`` command and ``relay_cli`` as OS processes.

On PostgreSQL the subprocesses use the test database itself (the test must be
``transaction=True`` so that what they commit is visible and flushed afterwards). On
SQLite the test database is in memory, so a fresh SQLite file is migrated for the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.integrations.relay_support import SECRET

ROOT = Path(settings.BASE_DIR)


def database_url(tmp_path: Path) -> str:
    """A URL of a database with the schema: the test database on PostgreSQL, a fresh
    migrated SQLite file otherwise."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    env = base_env(url)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return url


def base_env(url: str, **relay: object) -> dict[str, str]:
    # PYTEST_XDIST_WORKER stays: joopang.settings.test maps it to this worker's Redis
    # database, and the relay's wake-up flag must live in the same cache as the test's.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "joopang.settings.test",
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "DATA_PLATFORM_WEBHOOK_SECRET": SECRET,
        }
    )
    if url.startswith("sqlite"):
        env["CELERY_BROKER_URL"] = "memory://"  # wake-ups go nowhere: no broker files left behind
        env.pop("REDIS_URL", None)
    env.update({f"DATA_PLATFORM_{k.upper()}": str(v) for k, v in relay.items()})
    return env


def cli(env: dict[str, str], *args: str) -> object:
    done = subprocess.run(
        [sys.executable, "-m", "tests.integrations.relay_cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_relay(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_relay", "--interval", "0.1", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (out[-2000:], err[-3000:])
    return out
