"""The relay benchmark (issue 22): ``.venv/bin/python -m bench.relay``.

Not an HTTP load like the other scenarios: the relay is a background pipeline, so this
measures the pipeline itself on PostgreSQL + Redis with real Celery workers and the reference
receiver (``apps.integrations.receiver``, a thread of this process on loopback, storing in
memory):

1. **Throughput**: ``BENCH_RELAY_EVENTS`` (20,000) events are published over
   ``BENCH_RELAY_AGGREGATES`` (500) aggregates with the relay asleep (no webhook URL in this
   process, so no wake-ups), then ``BENCH_RELAY_WORKERS`` (2) relay runs are queued to as many
   Celery workers (solo pool), which drain the backlog in batches of ``BENCH_RELAY_BATCH``
   (100). Events/s = events / (first queued run → receiver holds every event).
2. **End-to-end lag**: a producer publishes ``BENCH_RELAY_RATE`` (200) events/s, each in its
   own transaction as a flow does, for ``BENCH_RELAY_DURATION`` (20 s); every commit wakes the
   relay as in production (debounced flag in Redis, one task queued at a time). Lag of an
   event = the receiver's first arrival time − its ``occurred_at`` (set in the publishing
   transaction, so the commit is included): P50 / P95 / P99 / max. No beat runs: the wake-up
   on commit is what is measured (beat's sweep is the backstop every 5 s).

The database (``BENCH_RELAY_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/joopang_bench_relay``; its name must contain ``bench``)
is dropped and created; Redis is ``BENCH_REDIS_URL`` (database 15). Writes
``bench/results/relay-latest.json`` and ``.md`` (the table, also printed). Exit 1 if an event
was not delivered, 2 if a setup step failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bench.run import (
    BASE_DIR,
    LOG_DIR,
    PYTHON,
    RESULTS_DIR,
    BenchError,
    Config,
    clear_redis,
    cpu_model,
    git_commit,
    log,
    manage,
    recreate_database,
)
from bench.stats import percentile

SECRET = "bench-relay-secret"


@dataclass
class RelayConfig:
    database_url: str
    redis_url: str
    events: int
    aggregates: int
    workers: int
    batch: int
    rate: float
    duration_s: float

    @classmethod
    def from_env(cls) -> RelayConfig:
        env = os.environ.get
        return cls(
            database_url=env(
                "BENCH_RELAY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/joopang_bench_relay"
            ),
            redis_url=env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
            events=int(env("BENCH_RELAY_EVENTS", "20000")),
            aggregates=int(env("BENCH_RELAY_AGGREGATES", "500")),
            workers=int(env("BENCH_RELAY_WORKERS", "2")),
            batch=int(env("BENCH_RELAY_BATCH", "100")),
            rate=float(env("BENCH_RELAY_RATE", "200")),
            duration_s=float(env("BENCH_RELAY_DURATION", "20")),
        )


def lag_summary(lags_s: list[float]) -> dict[str, float | int]:
    """Nearest-rank percentiles of the lags, in milliseconds."""
    ordered = sorted(lags_s)
    if not ordered:
        return {
            "n": 0,
            "p50_ms": float("nan"),
            "p95_ms": float("nan"),
            "p99_ms": float("nan"),
            "max_ms": float("nan"),
        }
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 50) * 1000, 1),
        "p95_ms": round(percentile(ordered, 95) * 1000, 1),
        "p99_ms": round(percentile(ordered, 99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def render_markdown(report: dict[str, Any]) -> str:
    t, lag, c = report["throughput"], report["lag"], report["config"]
    lines = [
        f"# Relay benchmark {report['started_at']} (commit {report['commit']})",
        "",
        f"{report['cores']} cores ({report['cpu']}); PostgreSQL + Redis; {c['workers']} Celery relay "
        f"workers (solo pool); batches of {c['batch']}; receiver on loopback (in memory).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| throughput: {t['events']:,} queued events over {c['aggregates']} aggregates | "
        f"**{t['events_per_s']:,.0f} events/s** ({t['seconds']:.1f} s, {t['calls']} calls) |",
        f"| duplicates (throughput run) | {t['duplicates']} |",
        f"| lag run: {lag['published']:,} events at {lag['achieved_rate']:,.0f}/s "
        f"(asked {c['rate']:,.0f}/s) for {c['duration_s']:.0f} s | delivered {lag['delivered']:,} |",
        f"| end-to-end lag (commit → received) P50 | {lag['p50_ms']:,.0f} ms |",
        f"| end-to-end lag P95 | **{lag['p95_ms']:,.0f} ms** |",
        f"| end-to-end lag P99 / max | {lag['p99_ms']:,.0f} / {lag['max_ms']:,.0f} ms |",
        f"| relay runs queued by commits (of {lag['published']:,} commits) | {lag['runs']} |",
        "",
    ]
    if report.get("failures"):
        lines += ["**FAILED**: " + "; ".join(report["failures"]), ""]
    return "\n".join(lines)


class Workers:
    """Celery workers in their own sessions, stopped with their process groups."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, env: dict[str, str], queue: str) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        for n in range(count):
            with (LOG_DIR / f"relay-worker-{n}.log").open("wb") as out:
                argv = [PYTHON, "-m", "celery", "-A", "joopang", "worker", "--pool", "solo", "-Q", queue]
                argv += ["--hostname", f"relay{n}-{queue}@%h", "--without-mingle", "--without-gossip"]
                argv += ["--loglevel", "WARNING"]
                self.procs.append(
                    subprocess.Popen(
                        argv,
                        cwd=BASE_DIR,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs = []


def _wait(predicate: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic()


def run(config: RelayConfig) -> dict[str, Any]:
    base = Config(
        database_url=config.database_url,
        redis_url=config.redis_url,
        products=0,
        concurrency=0,
        duration_s=0,
        warmup_s=0,
        only=[],
        strict=False,
    )
    recreate_database(base)
    clear_redis(config.redis_url)
    queue = f"bench-relay-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "joopang.settings.bench",
        "DATABASE_URL": config.database_url,
        "REDIS_URL": config.redis_url,
        "CELERY_BROKER_URL": config.redis_url,
        "DATA_PLATFORM_WEBHOOK_SECRET": SECRET,
        "DATA_PLATFORM_RELAY_QUEUE": queue,
        "DATA_PLATFORM_BATCH_SIZE": str(config.batch),
        "DATA_PLATFORM_WAKE_DEBOUNCE_SECONDS": "1",
    }
    manage(["migrate", "-v0"], env)
    os.environ.update(
        {k: v for k, v in env.items() if k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    )
    import django

    django.setup()
    from django.conf import settings
    from django.db import transaction

    from apps.core.models import OutboxEvent
    from apps.core.outbox import publish
    from apps.integrations.receiver import EventReceiver
    from apps.integrations.tasks import relay_run_task

    receiver = EventReceiver(secret=SECRET).start()
    env["DATA_PLATFORM_WEBHOOK_URL"] = receiver.url
    settings.DATA_PLATFORM_WEBHOOK_SECRET = SECRET
    settings.DATA_PLATFORM_RELAY_QUEUE = queue
    settings.DATA_PLATFORM_WAKE_DEBOUNCE_SECONDS = 1
    workers = Workers()
    try:
        workers.start(config.workers, env, queue)
        # --- 1. throughput over a backlog ------------------------------------------------
        settings.DATA_PLATFORM_WEBHOOK_URL = ""  # no wake-ups while the backlog is written
        published = 0
        while published < config.events:
            with transaction.atomic():
                for n in range(published, min(config.events, published + 100)):
                    publish(
                        type="bench.happened",
                        aggregate_type="bench",
                        aggregate_id=str(n % config.aggregates),
                        market="KR",
                        payload={"n": n, "text": "주팡 relay benchmark"},
                    )
            published = min(config.events, published + 100)
        log(f"{published} events published; waking {config.workers} relay runs")
        started = time.monotonic()
        for _ in range(config.workers):
            relay_run_task.apply_async(queue=queue)
        _wait(
            lambda: (
                receiver.stats()["distinct"] >= config.events
                or not _queue_more(relay_run_task, queue, config, receiver, started)
            ),
            timeout=600,
            what="the backlog to drain",
        )
        seconds = time.monotonic() - started
        tstats = receiver.stats()
        throughput = {
            "events": config.events,
            "seconds": round(seconds, 2),
            "events_per_s": round(config.events / seconds, 1),
            "calls": tstats["requests"],
            "duplicates": tstats["duplicates"],
        }
        log(f"throughput: {throughput}")
        # --- 2. lag at a steady rate -------------------------------------------------------
        settings.DATA_PLATFORM_WEBHOOK_URL = receiver.url
        before = set(receiver.event_ids())
        runs_before = _runs_queued()
        occurred: dict[str, float] = {}
        interval = 1.0 / config.rate
        begin = time.monotonic()
        n = 0
        while time.monotonic() - begin < config.duration_s:
            due = begin + n * interval
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with transaction.atomic():
                event = publish(
                    type="bench.happened",
                    aggregate_type="bench-lag",
                    aggregate_id=str(n % config.aggregates),
                    market="KR",
                    payload={"n": n},
                )
            occurred[str(event.id)] = event.occurred_at.timestamp()
            n += 1
        produced_s = time.monotonic() - begin
        _wait(lambda: set(occurred) <= receiver.event_ids(), timeout=120, what="the lag run's events")
        arrived = receiver.received_at()
        lags = [arrived[i] - at for i, at in occurred.items() if i in arrived and i not in before]
        lag = {
            "published": len(occurred),
            "achieved_rate": round(len(occurred) / produced_s, 1),
            "delivered": len(lags),
            "runs": _runs_queued() - runs_before,
            **lag_summary(lags),
        }
        log(f"lag: {lag}")
        # the receiver has them all; the acknowledgements follow the answers
        with contextlib.suppress(BenchError):
            _wait(
                lambda: not OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).exists(),
                timeout=30,
                what="the acknowledgements",
            )
        undelivered = OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).count()
    finally:
        workers.stop()
        receiver.stop()
    failures = []
    if undelivered:
        failures.append(f"{undelivered} events not delivered")
    if throughput["duplicates"]:
        failures.append(f"{throughput['duplicates']} duplicates without faults")
    return {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H%MZ"),
        "commit": git_commit(),
        "cores": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "config": asdict(config) | {"database_url": "(bench)"},
        "throughput": throughput,
        "lag": lag,
        "failures": failures,
    }


_runs = 0
_runs_lock = threading.Lock()


def _runs_queued() -> int:
    """Relay runs queued by commits in this process so far (Celery's ``before_task_publish``)."""
    return _runs


def _count_publish(sender: str | None = None, **kwargs: Any) -> None:
    global _runs
    if sender == "joopang.integrations.relay_run":
        with _runs_lock:
            _runs += 1


def _queue_more(task: Any, queue: str, config: RelayConfig, receiver: Any, started: float) -> bool:
    """A drain ends at its time budget; queue another run per worker when the queue is idle
    (every ~55 s). Returns True (keep waiting)."""
    elapsed = time.monotonic() - started
    if elapsed > 55 and int(elapsed) % 55 == 0:
        for _ in range(config.workers):
            task.apply_async(queue=queue)
        time.sleep(1)
    return True


def main() -> int:
    from celery.signals import before_task_publish

    before_task_publish.connect(_count_publish)
    config = RelayConfig.from_env()
    try:
        report = run(config)
    except BenchError as exc:
        log(f"setup failed: {exc}")
        return 2
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "relay-latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    markdown = render_markdown(report)
    (RESULTS_DIR / "relay-latest.md").write_text(markdown)
    print(markdown)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
