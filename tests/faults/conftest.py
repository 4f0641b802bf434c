"""The fault suite's stack: a private PostgreSQL cluster and Redis, the app's real processes.

One throwaway cluster per module (``cluster``): migrated and seeded once into a template
database; every scenario gets its own copy (``CREATE DATABASE ... TEMPLATE``, ~0.3 s), its
own ``redis-server`` and its own app processes (``stack``), so no scenario sees another's
leftovers and each ends with ``check_invariants`` on its own database. Everything started
here is stopped in the fixtures' teardown, also when a test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.utils.services import (
    HOST,
    PostgresCluster,
    Processes,
    RedisServer,
    free_port,
    postgres_available,
    redis_available,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SECRET = "fault-suite-webhook-secret"
TEMPLATE_DB = "faults_template"


def skip_reason() -> str | None:
    """Why the fault suite cannot run here (``None``: it can)."""
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "fault tests run in the PostgreSQL pass (DATABASE_URL=postgres://...); SQLite run skips them"
    return postgres_available() or redis_available()


def base_env(**extra: str) -> dict[str, str]:
    """The environment of every app process: the fault settings, nothing of pytest's own
    database, cache or broker (those belong to the test run, not to the faulted stack)."""
    drop = ("DATABASE_URL", "REDIS_URL", "CELERY_", "DJANGO_", "PYTEST_", "DATA_PLATFORM_", "PAYMENT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        {"DJANGO_SETTINGS_MODULE": "tests.faults.settings", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    )
    env.update(extra)
    return env


def run_manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def appctl(env: dict[str, str], command: str, args: dict[str, Any] | None = None) -> Any:
    done = subprocess.run(
        [PYTHON, "-m", "tests.faults.appctl", command, json.dumps(args or {})],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"appctl {command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


class Cluster:
    """The module's PostgreSQL cluster with its migrated, seeded template database."""

    def __init__(self, pg: PostgresCluster, seed: dict[str, Any]) -> None:
        self.pg = pg
        self.seed = seed

    def new_database(self) -> str:
        name = f"faults_{uuid.uuid4().hex[:8]}"
        self.pg.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        return name


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    pg = PostgresCluster()
    try:
        pg.init()
        pg.start()
        pg.sql(f"CREATE DATABASE {TEMPLATE_DB}")
        env = base_env(
            DATABASE_URL=pg.url(TEMPLATE_DB), CELERY_BROKER_URL="memory://", VAR_DIR=str(pg.tmp / "var")
        )
        started = time.monotonic()
        migrate = run_manage(env, "migrate", "-v0", "--skip-checks", timeout=300)
        assert migrate.returncode == 0, migrate.stderr[-4000:]
        migrated = time.monotonic()
        seed = appctl(env, "seed")
        print(f"[faults] migrate {migrated - started:.1f} s, seed {time.monotonic() - migrated:.1f} s")
        # A template must have no connections when it is copied.
        pg.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{TEMPLATE_DB}'")
        yield Cluster(pg, seed)
    finally:
        pg.destroy()


class Stack:
    """One scenario's database, Redis and app processes (started on demand)."""

    def __init__(self, cluster: Cluster, tmp: Path) -> None:
        self.cluster = cluster
        self.pg = cluster.pg
        self.seed = cluster.seed
        self.tmp = tmp
        self.db = cluster.new_database()
        self.redis = RedisServer().start()
        self.procs = Processes(tmp / "logs", ROOT)
        self.web_port = free_port()
        self.sandbox_port = free_port()
        self.receiver_port = free_port()
        self.receiver_db = tmp / "received-events.sqlite3"
        self.env = base_env(
            DATABASE_URL=self.pg.url(self.db),
            REDIS_URL=f"redis://{HOST}:{self.redis.port}/0",
            CELERY_BROKER_URL=f"redis://{HOST}:{self.redis.port}/1",
            PAYMENT_PROVIDER_URL=f"http://{HOST}:{self.sandbox_port}",
            DATA_PLATFORM_WEBHOOK_URL=f"http://{HOST}:{self.receiver_port}/",
            DATA_PLATFORM_WEBHOOK_SECRET=SECRET,
            # Seconds, not minutes: a killed worker's lease, the back-off after a refused
            # delivery and the circuit breaker's pause are what these tests wait through.
            DATA_PLATFORM_LEASE_SECONDS="5",
            DATA_PLATFORM_BACKOFF_BASE_SECONDS="0.5",
            DATA_PLATFORM_BACKOFF_MAX_SECONDS="2",
            DATA_PLATFORM_BREAKER_RESET_SECONDS="2",
            DATA_PLATFORM_CIRCUIT_RETRY_SECONDS="1",
            DATA_PLATFORM_WAKE_DEBOUNCE_SECONDS="0.2",
            DATA_PLATFORM_CONNECT_TIMEOUT="1",
            DATA_PLATFORM_READ_TIMEOUT="3",
            DATA_PLATFORM_RELAY_TIME_BUDGET_SECONDS="10",
            # A receiver down for a while must not use up an event's attempts (then it
            # would be ``failed``, not delivered, when the receiver is back).
            DATA_PLATFORM_MAX_ATTEMPTS="50",
            DB_POOL_MAX_SIZE="4",
            DB_POOL_TIMEOUT="2",
            VAR_DIR=str(tmp / "var"),
            CACHE_KEY_PREFIX="faults",
        )
        self.base_url = f"http://{HOST}:{self.web_port}"

    # --- processes ---------------------------------------------------------------------

    def start_web(self) -> None:
        """gunicorn, as production runs it (sync is the bench's choice; gthread here so a
        handful of client threads are served at once by 2 processes on 2 cores)."""
        self.procs.start(
            "web",
            [PYTHON, "-m", "gunicorn", "joopang.wsgi:application", "--bind", f"{HOST}:{self.web_port}",
             "--workers", "2", "--worker-class", "gthread", "--threads", "4", "--timeout", "60",
             "--graceful-timeout", "5", "--log-level", "warning"],
            self.env,
        )  # fmt: skip

    def start_sandbox(self, fault: str = "ok") -> None:
        self.procs.start(
            "sandbox",
            [PYTHON, "manage.py", "payment_sandbox", "--port", str(self.sandbox_port), "--fault", fault],
            self.env,
        )

    def start_receiver(self, *args: str) -> None:
        self.procs.start(
            "receiver",
            [PYTHON, "manage.py", "run_event_receiver", "--port", str(self.receiver_port),
             "--db", str(self.receiver_db), "--secret", SECRET, *args],
            self.env,
        )  # fmt: skip

    def start_worker(self, name: str = "worker") -> None:
        self.procs.start(
            name,
            [PYTHON, "-m", "celery", "-A", "joopang", "worker", "--pool", "solo", "--hostname",
             f"{name}-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
            self.env,
        )  # fmt: skip

    def start_beat(self) -> None:
        self.procs.start(
            "beat",
            [PYTHON, "-m", "celery", "-A", "joopang", "beat", "--scheduler", "celery.beat:PersistentScheduler",
             "--schedule", str(self.tmp / "beat-schedule"), "--loglevel", "WARNING"],
            self.env,
        )  # fmt: skip

    def wait_web(self, timeout: float = 60) -> None:
        def ready() -> bool:
            self._alive("web")
            return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200

        wait_until(ready, timeout, "gunicorn /readyz")

    def wait_sandbox(self, timeout: float = 60) -> None:
        wait_until(lambda: self._alive("sandbox") and self.sandbox_stats(), timeout, "the payment sandbox")

    def wait_receiver(self, timeout: float = 60) -> None:
        wait_until(lambda: self._alive("receiver") and self.received(), timeout, "the event receiver")

    def _alive(self, name: str) -> bool:
        if not self.procs.alive(name):
            raise AssertionError(f"{name} is not running:\n{self.procs.log(name)}")
        return True

    # --- what the servers say ----------------------------------------------------------

    def sandbox_stats(self) -> dict[str, Any]:
        return httpx.get(f"http://{HOST}:{self.sandbox_port}/_sandbox/stats", timeout=3).json()

    def sandbox_fault(self, mode: str, **kw: Any) -> dict[str, Any]:
        response = httpx.post(
            f"http://{HOST}:{self.sandbox_port}/_sandbox/faults", json={"mode": mode, **kw}, timeout=3
        )
        assert response.status_code == 200, response.text
        return response.json()

    def received(self) -> dict[str, Any]:
        return httpx.get(f"http://{HOST}:{self.receiver_port}/", timeout=3).json()

    def received_ids(self) -> list[str]:
        """Every event id the receiver stored (its SQLite file, read directly)."""
        import sqlite3

        with sqlite3.connect(self.receiver_db) as conn:
            return [str(row[0]) for row in conn.execute("SELECT id FROM events")]

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """A read of this scenario's database, straight from the test process."""
        return self.pg.sql(statement, self.db)

    def outbox(self) -> dict[str, int]:
        return dict(self.sql("SELECT status, count(*) FROM core_outboxevent GROUP BY status"))  # type: ignore[arg-type]

    def outbox_ids(self) -> set[str]:
        return {str(row[0]) for row in self.sql("SELECT id FROM core_outboxevent")}

    def appctl(self, command: str, args: dict[str, Any] | None = None) -> Any:
        return appctl(self.env, command, args)

    def check_invariants(self, *, relay: bool = True, **env: str) -> dict[str, Any]:
        """``manage.py check_invariants --json`` against this scenario's database; asserts exit 0.

        ``relay=False`` for a scenario that runs no relay (no Celery worker): its outbox is
        checked as on a deployment without a webhook (events wait to be pulled), not against
        the retry horizon of a relay that never ran."""
        if not relay:
            env = {**env, "DATA_PLATFORM_WEBHOOK_URL": ""}
        done = run_manage({**self.env, **env}, "check_invariants", "--json")
        document = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
        assert done.returncode == 0, f"invariants breached:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
        assert document["clean"] and document["checked"] >= 16, document
        return document

    def close(self) -> None:
        self.procs.stop_all()
        self.redis.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if not self.pg.running():
                    self.pg.start()
                self.pg.sql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
                return
            except Exception:  # noqa: BLE001 - the cluster may still be coming back
                time.sleep(0.5)


@pytest.fixture
def stack(cluster: Cluster) -> Iterator[Stack]:
    tmp = Path(tempfile.mkdtemp(prefix="joopang-fault-"))
    built = Stack(cluster, tmp)
    try:
        yield built
    finally:
        built.close()
        if os.environ.get("FAULTS_KEEP_LOGS") != "1":
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
