"""``make bench``: the whole benchmark, from an empty database to ``bench/results/latest.md``.

1. Drop and create the PostgreSQL database (``BENCH_DATABASE_URL``, default
   ``postgres://postgres@127.0.0.1:5432/joopang_bench``), migrate it, seed
   ``BENCH_PRODUCTS`` (10,000) products with ``seed_catalog``; Redis database
   ``BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``) is cache and broker.
2. Start the sandbox payment provider (in this process, on a free port, fault ``ok``;
   ``PAYMENT_PROVIDER_URL`` points the scenario builders and the servers at it), gunicorn
   (``bench/gunicorn.conf.py``: sync, 2 x cores + 1 workers) and one Celery worker with
   ``joopang.settings.bench``; wait for ``/readyz`` and a worker ping.
3. For each scenario (``bench/scenarios.py``) build its request paths from the seeded
   data, then drive ``BENCH_CONCURRENCY`` (32) keep-alive connections from a separate
   process (``bench/loadgen.py``) for ``BENCH_WARMUP`` (3) + ``BENCH_DURATION`` (20) s.
4. Write ``bench/results/latest.json`` and ``latest.md``, print the table, stop gunicorn
   and the worker (also on failure or Ctrl-C). Exit 1 if any request failed (non-2xx or
   transport error); with ``BENCH_STRICT=1`` also if a target is missed (a P95 bound, a
   req/s share of the baseline, the middleware floor, a flash sale's or the coupon
   issuance's).

Other knobs: ``BENCH_SCENARIOS`` (comma-separated names; the baseline always runs first,
since every ratio is to it), ``BENCH_WORKERS``,
``BENCH_WORKER_CLASS`` (``sync`` or ``gthread``), ``BENCH_THREADS`` (gthread only),
``BENCH_SETTINGS`` (a settings module that star-imports ``joopang.settings.bench``, to
measure a change before making it). Logs of the servers: ``var/bench/*.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
LOG_DIR = BASE_DIR / "var" / "bench"
PYTHON = sys.executable
SETTINGS = os.environ.get("BENCH_SETTINGS", "joopang.settings.bench")  # A/B a settings variant
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: The longest a burst (a flash sale) may take before the load generator stops it.
FLASH_CAP_S = 300.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(Exception):
    """A setup step failed; the message says which and why."""


@dataclass
class Config:
    database_url: str
    redis_url: str
    products: int
    concurrency: int
    duration_s: float
    warmup_s: float
    only: list[str]
    strict: bool
    cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    workers: int = 0
    threads: int = 0
    worker_class: str = "sync"

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ.get
        config = cls(
            database_url=env("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/joopang_bench"),
            redis_url=env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
            products=int(env("BENCH_PRODUCTS", "10000")),
            concurrency=int(env("BENCH_CONCURRENCY", "32")),
            duration_s=float(env("BENCH_DURATION", "20")),
            warmup_s=float(env("BENCH_WARMUP", "3")),
            only=[s.strip() for s in env("BENCH_SCENARIOS", "").split(",") if s.strip()],
            strict=env("BENCH_STRICT", "") in ("1", "true", "yes"),
        )
        config.workers = int(env("BENCH_WORKERS") or 2 * config.cores + 1)
        config.worker_class = env("BENCH_WORKER_CLASS", "sync")
        config.threads = int(env("BENCH_THREADS", "4")) if config.worker_class == "gthread" else 1
        return config

    @property
    def db_name(self) -> str:
        return urlsplit(self.database_url).path.lstrip("/")

    def maintenance_url(self) -> str:
        return urlunsplit(urlsplit(self.database_url)._replace(path="/postgres"))


# --- Processes ------------------------------------------------------------------------


class Services:
    """gunicorn and the Celery worker, each in its own session so that one killpg stops
    the process and all its children, and the sandbox payment provider (a thread of this
    process); ``stop()`` is safe to call twice."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.sandbox: Any = None

    def start_sandbox(self, port: int) -> None:
        """The payment provider the wallet scenarios charge (``manage.py payment_sandbox``'s
        server, in a daemon thread here: it is a stand-in for a remote service, so its CPU
        shows under "other processes", not under gunicorn)."""
        from apps.payments.providers.sandbox import SandboxServer

        self.sandbox = SandboxServer(host=HOST, port=port, fault="ok").start()
        log(f"sandbox payment provider on {self.sandbox.url}")

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        path = LOG_DIR / f"{name}.log"
        self.logs[name] = path
        with path.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise BenchError(
                    f"{name} exited with {proc.returncode}; see {self.logs[name]}:\n{self.tail(name)}"
                )

    def tail(self, name: str, lines: int = 25) -> str:
        try:
            return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop_one(self, name: str) -> None:
        """Stop one server (gunicorn, to restart it with another environment)."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in time: killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        for proc in list(self.procs.values()):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, proc in list(self.procs.items()):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in time: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            # Stray children (a gunicorn worker that outlived its master) die with the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            self.procs.pop(name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def settle_database(config: Config) -> None:
    """``VACUUM (ANALYZE)`` the freshly seeded database before anything is measured: left to
    autovacuum, the first pass over the new tables ran during the first scenarios (the
    baseline among them) and showed as "others" taking up to 43 % of the machine."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(config.database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    log(f"database vacuumed and analysed in {time.monotonic() - started:.1f} s")


def manage(args: list[str], env: dict[str, str], *, timeout: float = 3600) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, timeout=timeout, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    log(f"manage.py {' '.join(args)}: done in {time.monotonic() - started:.1f} s")


# --- PostgreSQL and Redis -------------------------------------------------------------


def recreate_database(config: Config) -> dict[str, Any]:
    """DROP + CREATE the benchmark database; returns facts about the server. Refuses a
    database whose name does not contain "bench", since it is dropped without asking."""
    import psycopg
    from psycopg import sql

    name = config.db_name
    if "bench" not in name and os.environ.get("BENCH_ALLOW_DROP") != "1":
        raise BenchError(
            f"refusing to drop database {name!r}: its name lacks 'bench' (set BENCH_ALLOW_DROP=1)"
        )
    with psycopg.connect(config.maintenance_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        facts = {
            "version": conn.execute("SHOW server_version").fetchone()[0],  # type: ignore[index]
            "max_connections": int(conn.execute("SHOW max_connections").fetchone()[0]),  # type: ignore[index]
            "reserved": int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0]),  # type: ignore[index]
            "in_use": int(conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0]),  # type: ignore[index]
            "shared_buffers": conn.execute("SHOW shared_buffers").fetchone()[0],  # type: ignore[index]
        }
    log(f"database {name}: dropped and created (PostgreSQL {facts['version']})")
    return facts


def size_threads(config: Config, pg: dict[str, Any]) -> str:
    """Fit ``workers x threads`` database connections (one pool slot per thread) into what
    PostgreSQL has left, keeping 20 connections for everyone else on the machine."""
    budget = pg["max_connections"] - pg["reserved"] - pg["in_use"] - 20 - 4  # 4: worker, harness
    wanted = config.workers * config.threads
    note = (
        f"PostgreSQL max_connections {pg['max_connections']} ({pg['in_use']} in use before the run): "
        f"{config.workers} workers x {config.threads} thread(s) = at most {wanted} pooled connections"
    )
    if wanted > budget:
        config.threads = max(1, budget // config.workers)
        note += f" would not fit: threads lowered to {config.threads}"
    return note


def clear_redis(url: str) -> None:
    """Delete the benchmark's cache keys and queues from its Redis database (not FLUSHDB:
    the database number may be shared after all)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    deleted = 0
    for pattern in ("joopang-bench:*", "celery*", "_kombu.*", "unacked*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            deleted += client.delete(*keys)
    log(f"redis {url}: {deleted} stale benchmark keys deleted")


# --- CPU accounting (/proc) -----------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def process_tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and all its descendants."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                parents[int(entry)] = int(fields[1])
                cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def pids_cpu(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def machine_ticks() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


def loadavg_1m() -> float:
    """The machine's 1-minute load average (runnable processes, ours included)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


class CpuMeter:
    """Snapshots of gunicorn's tree, our PostgreSQL backends and the machine."""

    def __init__(self, gunicorn_pid: int, database_url: str, db_name: str) -> None:
        self.gunicorn_pid = gunicorn_pid
        self.database_url = database_url
        self.db_name = db_name

    def _backend_pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.db_name],
            ).fetchall()
        return [row[0] for row in rows]

    def snapshot(self) -> dict[str, Any]:
        busy, total = machine_ticks()
        return {
            "gunicorn": process_tree_cpu(self.gunicorn_pid),
            "postgres": pids_cpu(self._backend_pids()),
            "busy": busy,
            "total": total,
            "loadavg_1m": loadavg_1m(),
        }

    @staticmethod
    def delta(start: dict[str, Any], end: dict[str, Any]) -> dict[str, float]:
        pg = sum(cpu - start["postgres"].get(pid, 0.0) for pid, cpu in end["postgres"].items())
        return {
            "gunicorn": end["gunicorn"] - start["gunicorn"],
            "postgres": pg,
            "busy": end["busy"] - start["busy"],
            "total": end["total"] - start["total"],
            "loadavg_1m": end.get("loadavg_1m"),
        }


# --- One scenario ---------------------------------------------------------------------


def run_load(
    config: Config,
    port: int,
    paths: list[str],
    headers: dict[str, str],
    meter: CpuMeter | None,
    method: str = "GET",
    load: Any = None,
) -> dict[str, Any]:
    """Run ``bench.loadgen`` in its own process and return its result (plus CPU use)."""
    with tempfile.TemporaryDirectory(prefix="joopang-bench-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec = {
            "host": HOST,
            "port": port,
            "paths": paths,
            **(load.spec() if load is not None else {}),
            "headers": headers,
            "method": method,
            "concurrency": config.concurrency,
            "warmup_s": config.warmup_s,
            "duration_s": config.duration_s,
        }
        if load is not None and load.once:  # a burst: no warm-up, the duration only a cap
            spec.update(warmup_s=0, duration_s=max(config.duration_s, FLASH_CAP_S))
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.Popen(
            [PYTHON, "-m", "bench.loadgen", str(spec_path), str(result_path)],
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            start = end = None
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == "START" and meter:
                    start = meter.snapshot()
                elif line.strip() == "END" and meter:
                    end = meter.snapshot()
            proc.wait(timeout=spec["warmup_s"] + spec["duration_s"] + 120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise BenchError(f"load generator failed with exit code {proc.returncode}")
        result: dict[str, Any] = json.loads(result_path.read_text())
    if start and end:
        result["cpu"] = CpuMeter.delta(start, end)
    return result


def client_floor(config: Config, keep_alive: bool) -> dict[str, Any]:
    """The load generator against a do-nothing server (same connection handling as
    gunicorn's workers) for a few seconds: what the client alone costs and adds."""
    from bench.stats import percentile

    port = free_port()
    argv = [PYTHON, "-m", "bench.loadgen", "--serve", str(port)] + ([] if keep_alive else ["close"])
    server = subprocess.Popen(argv, cwd=BASE_DIR, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        server.stdout.readline()  # READY
        floor = Config(**{**config.__dict__, "duration_s": 3.0, "warmup_s": 0.5})
        result = run_load(floor, port, ["/"], {}, None)
    finally:
        server.kill()
        server.wait()
    values = sorted(result["latencies_ms"])
    requests = max(1, len(values))
    return {
        "rps": len(values) / result["duration_s"],
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "loadgen_cpu_ms_per_request": 1000 * result["cpu_s"] / requests,
        "keep_alive": keep_alive,
    }


def cpu_extra(result: dict[str, Any], cores: int) -> dict[str, Any]:
    requests = max(1, sum(result["statuses"].values()))
    wall = result.get("cpu_wall_s") or result["duration_s"]
    extra: dict[str, Any] = {
        "loadgen_cpu_s": result["cpu_s"],
        "loadgen_core_share": result["cpu_s"] / wall if wall else 0.0,
        "connections_opened": result["connections_opened"],
        "warmup_requests": result["warmup_requests"],
        "distinct_paths": result["distinct_paths"],
        "transport_errors": result["transport_errors"],
        "error_samples": result["samples"],
    }
    cpu = result.get("cpu")
    per_request = {"loadgen": 1000 * result["cpu_s"] / requests}
    if cpu:
        per_request["gunicorn"] = 1000 * cpu["gunicorn"] / requests
        per_request["postgres"] = 1000 * cpu["postgres"] / requests
        ours = cpu["gunicorn"] + cpu["postgres"] + result["cpu_s"]
        extra["other_machine_share"] = max(0.0, cpu["busy"] - ours) / cpu["total"] if cpu["total"] else None
        extra["machine_busy_share"] = cpu["busy"] / cpu["total"] if cpu["total"] else None
        extra["loadavg_1m"] = cpu.get("loadavg_1m")
    extra["cpu_ms_per_request"] = per_request
    return extra


# --- The run ----------------------------------------------------------------------------


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    # The servers run the working tree: say when it is not exactly the commit.
    return f"{commit} + {len(dirty)} uncommitted file(s)" if dirty else commit


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def wait_ready(port: int, services: Services, timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        services.check_alive()
        try:
            response = httpx.get(f"http://{HOST}:{port}/readyz", timeout=5)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    raise BenchError(f"/readyz did not answer 200 within {timeout:.0f} s: {last}")


def wait_worker(services: Services, timeout: float = 60) -> None:
    from joopang.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.check_alive()
        if app.control.ping(timeout=1.0):
            return
    raise BenchError(f"the Celery worker did not answer a ping within {timeout:.0f} s")


def preflight(
    port: int, name: str, paths: list[str], headers: dict[str, str], method: str = "GET", load: Any = None
) -> list[str]:
    """Ask a few distinct paths once (with their bodies and the first client's headers when
    the scenario has them); return problems (non-2xx) to show before the load."""
    import httpx

    problems = []
    if load is not None and load.flows:
        # A flow's steps depend on each other: run the first client's iteration once.
        def send(method: str, path: str, body: str | None, own: dict[str, str]) -> tuple[int, bytes]:
            response = httpx.request(
                method,
                f"http://{HOST}:{port}{path}",
                headers={**headers, **own},
                content=body.encode("utf-8") if body is not None else None,
                timeout=30,
            )
            return response.status_code, response.content

        try:
            for step, path, status, body in load.run_flow(load.flows[0], send):
                if not 200 <= status < 300:
                    problems.append(f"{name}: {step.method} {path} answered {status}: {body[:200]!r}")
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            problems.append(f"{name}: flow: {type(exc).__name__}: {exc}")
        return problems
    asks = (
        load.first_requests(3)
        if load is not None
        else [(p, None, {}) for p in list(dict.fromkeys(paths))[:3]]
    )
    for path, body, own in asks:
        try:
            response = httpx.request(
                method,
                f"http://{HOST}:{port}{path}",
                headers={**headers, **own},
                content=body.encode("utf-8") if body is not None else None,
                timeout=30,
            )
        except httpx.HTTPError as exc:
            problems.append(f"{name}: {method} {path}: {type(exc).__name__}: {exc}")
            continue
        if not 200 <= response.status_code < 300:
            problems.append(f"{name}: {method} {path} answered {response.status_code}: {response.text[:200]}")
    return problems


def dataset_facts() -> dict[str, Any]:
    from django.apps import apps

    facts: dict[str, Any] = {}
    for key, (label, model) in {
        "products": ("catalog", "Product"),
        "skus": ("catalog", "Sku"),
        "categories": ("catalog", "Category"),
    }.items():
        try:
            facts[key] = apps.get_model(label, model)._default_manager.count()
        except Exception:  # the catalog does not exist yet, or is not migrated
            facts[key] = 0
    return facts


def wallet_check(services: Services) -> str:
    """After the top-ups: every charge the sandbox applied was credited exactly once (one
    ``top_up`` ledger row per charge reference), and every wallet still equals its ledger."""
    from django.db import connections

    from apps.payments.models import WalletEntry
    from apps.payments.selectors import wallet_drift

    stats = (
        services.sandbox.stats() if services.sandbox is not None else {"charges_applied": {}, "requests": {}}
    )
    applied = stats["charges_applied"]
    entries = WalletEntry.objects.filter(kind="top_up").count()
    drift = len(wallet_drift())
    connections.close_all()
    twice = sum(1 for count in applied.values() if count != 1)
    return (
        f"top_up check: the sandbox received {stats['requests'].get('charge', 0)} charge requests and applied "
        f"{len(applied)} charges ({twice} applied more than once); {entries} top-up ledger rows; "
        f"{drift} wallets off their ledger sum"
    )


def scenario_summaries(item: Any, load: Any, result: dict[str, Any], cores: int) -> list[Any]:
    """The rows one scenario makes: one, or for a flow one per ``load.rows`` entry (its
    step labels and sums). A flow's CPU per request covers all its requests (the load
    generator cannot tell whose request a CPU second was): it goes with the first row."""
    from bench.scenarios import RPS_TARGETS
    from bench.stats import summarize

    extra = cpu_extra(result, cores)
    if not load.flows:
        return [
            summarize(
                name=item.name,
                title=item.title,
                latencies_ms=result["latencies_ms"],
                statuses=result["statuses"],
                duration_s=result["duration_s"],
                p95_target_ms=item.p95_target_ms,
                extra=extra,
                ok_statuses=load.ok_statuses,
                rps_target_vs_baseline=RPS_TARGETS.get(item.name),
            )
        ]
    extra["cpu_label"] = f"{item.name} (all its requests)"
    # Every row of the flow ran in the same window: the same machine load.
    machine = {k: extra[k] for k in ("other_machine_share", "machine_busy_share", "loadavg_1m") if k in extra}
    out = []
    for index, row in enumerate(load.rows):
        own = result.get("by_label", {}).get(row.label, {"latencies_ms": [], "statuses": {}})
        out.append(
            summarize(
                name=row.label,
                title=row.title,
                latencies_ms=own["latencies_ms"],
                statuses=own["statuses"],
                duration_s=result["duration_s"],
                p95_target_ms=row.p95_target_ms,
                extra=extra if index == 0 else {"error_samples": [], **machine},
                rps_target_vs_baseline=RPS_TARGETS.get(row.label),
            )
        )
    return out


def flow_note(name: str, load: Any, result: dict[str, Any]) -> str:
    """How many iterations a flow completed, and its CPU per iteration: the CPU of all its
    requests over requests / steps per iteration (iterations cut by the window's edges
    count for the requests they made)."""
    by_label = result.get("by_label", {})
    sums = [row.label for row in load.rows if row.label not in {s.label for f in load.flows for s in f.steps}]
    complete = len(by_label.get(sums[0], {}).get("latencies_ms", [])) if sums else 0
    requests = sum(result["statuses"].values())
    steps = len(load.flows[0].steps)
    text = f"{name}: {requests} requests ({steps} per iteration), {complete} complete iterations recorded"
    cpu = result.get("cpu")
    if cpu and requests:
        per = 1000 * steps / requests
        text += f"; CPU per iteration: gunicorn {cpu['gunicorn'] * per:.1f} ms, PostgreSQL {cpu['postgres'] * per:.1f} ms"
    return text


def flash_sale_check(
    name: str, load: Any, result: dict[str, Any], baseline_rps: float | None
) -> dict[str, Any]:
    """After a flash sale: what the database issued (the campaign's counter, its coupon rows,
    members above the per-member limit) against the coupons on offer, and from the load
    generator's events the time to sell out (the answer that took the last coupon, counted
    from the first request) and the sold-out answers per second after it. ``passed`` is
    False on ANY over- or under-issuance (the run then fails loudly); ``targets`` are the
    issue's (P95 <= 400 ms; with Redis, sold-out answers >= 50 % of the baseline's req/s)."""
    from django.db import connections
    from django.db.models import Count

    from apps.coupons.models import Campaign, Coupon
    from bench.stats import percentile

    facts = load.facts
    campaign = Campaign.objects.get(pk=facts["campaign_id"])
    rows = Coupon.objects.filter(campaign=campaign)
    coupon_rows = rows.count()
    above_limit = rows.values("user_id").annotate(n=Count("pk")).filter(n__gt=facts["per_user_limit"]).count()
    connections.close_all()
    events = sorted(result.get("events", []))
    created = [e for e in events if e[1] == 201]
    sold_out_at_ms = created[-1][0] if len(created) >= facts["coupons"] else None
    end_ms = events[-1][0] if events else 0.0
    codes: dict[str, int] = {}
    for _t, status, code, *_rest in events:
        key = str(status) if 200 <= status < 300 else f"{status} {code or '?'}"
        codes[key] = codes.get(key, 0) + 1
    after = [e for e in events if sold_out_at_ms is not None and e[0] > sold_out_at_ms]
    sold_out_after = [e for e in after if e[2] == "coupon.sold_out"]
    window_s = (end_ms - sold_out_at_ms) / 1000 if sold_out_at_ms is not None else 0.0
    sold_out_rps = len(sold_out_after) / window_s if window_s > 0 else None
    latencies = sorted(result["latencies_ms"])
    p95 = percentile(latencies, 95)
    created_p95 = percentile(sorted(e[3] for e in created), 95) if created else None
    sold_out_p95 = percentile(sorted(e[3] for e in sold_out_after), 95) if sold_out_after else None
    exact = campaign.issued_count == coupon_rows == len(created) == facts["coupons"] and above_limit == 0
    redis = "no_redis" not in name
    ratio = sold_out_rps / baseline_rps if sold_out_rps and baseline_rps else None
    targets = {
        "zero over-issuance": exact,
        "claim P95 <= 400 ms": p95 <= 400,
    }
    if redis:
        targets["sold-out answers >= 50 % of baseline req/s"] = ratio is not None and ratio >= 0.5
    return {
        "name": name,
        "campaign_id": campaign.pk,
        "coupons": facts["coupons"],
        "members": facts["members"],
        "attempts": len(events),
        "issued_count": campaign.issued_count,
        "coupon_rows": coupon_rows,
        "answers_201": len(created),
        "members_above_limit": above_limit,
        "answers": dict(sorted(codes.items())),
        "duration_s": round(result["duration_s"], 3),
        "claims_per_s": len(events) / result["duration_s"] if result["duration_s"] else 0.0,
        "p95_ms": p95,
        "p95_created_ms": created_p95,
        "sold_out_at_ms": sold_out_at_ms,
        "sold_out_answers_after": len(sold_out_after),
        "sold_out_per_s": sold_out_rps,
        "sold_out_p95_ms": sold_out_p95,
        "baseline_rps": baseline_rps,
        "sold_out_vs_baseline": ratio,
        "exact": exact,
        "targets": targets,
        "passed": exact,
    }


def flash_note(check: dict[str, Any]) -> str:
    def num(value: float | None, fmt: str) -> str:
        return "–" if value is None else format(value, fmt)

    text = (
        f"{check['name']} check: {check['attempts']} claim attempts by {check['members']} members for "
        f"{check['coupons']} coupons in {check['duration_s']:.2f} s ({check['claims_per_s']:.0f} claims/s, "
        f"P95 {num(check['p95_ms'], '.0f')} ms); issued_count {check['issued_count']}, "
        f"{check['coupon_rows']} coupon rows, {check['answers_201']} answers 201, "
        f"{check['members_above_limit']} members above the limit "
        f"({'exactly ' + str(check['coupons']) if check['exact'] else 'NOT EXACT: FAILED'}); "
        f"sold out after {num(check['sold_out_at_ms'], '.0f')} ms; then "
        f"{check['sold_out_answers_after']} sold-out answers at {num(check['sold_out_per_s'], '.0f')}/s "
        f"(P95 {num(check['sold_out_p95_ms'], '.0f')} ms, {num(check['sold_out_vs_baseline'], '.0%')} of the "
        f"baseline's req/s); answers: {check['answers']}"
    )
    return text


#: The hot-row claim transaction pgbench runs (``pgbench_hot_row``): the conditional UPDATE
#: of the campaign row and the INSERT of a coupon, on scratch copies of the two tables.
PGBENCH_SCRIPT = """\\set user random(1, 2000000000)
BEGIN;
UPDATE {campaigns} SET issued_count = issued_count + 1, updated_at = now()
  WHERE id = :campaign AND issued_count < total_quantity;
INSERT INTO {coupons} (public_id, campaign_id, user_id, seq, status, uses_left, expires_at, held_by,
  claimed_at, revoke_reason)
  VALUES (gen_random_uuid(), :campaign, :user, :client_id + 1, 'issued', 1, now() + interval '1 day', '',
  now(), '') ON CONFLICT DO NOTHING;
COMMIT;
"""
PGBENCH_CAMPAIGNS = "bench_pgbench_campaign"
PGBENCH_COUPONS = "bench_pgbench_coupon"


def pgbench_binary() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    return str(candidates[-1]) if candidates else None


def pgbench_hot_row(config: Config, campaign_id: int) -> dict[str, Any]:
    """What PostgreSQL alone allows for a coupon claim on one hot campaign row: ``pgbench``
    with ``config.concurrency`` clients (prepared statements, no Python in the way) for
    ``BENCH_DURATION`` s running ``PGBENCH_SCRIPT`` against scratch tables made ``LIKE`` the
    app's (columns, defaults, CHECKs, indexes; no foreign keys), the campaign row a copy of
    ``campaign_id``'s with room for every claim. The app's tables are not touched; the
    scratch ones are dropped afterwards. Returns tps, latency, the clients, how busy the
    machine was meanwhile, and whether the counter equals the rows (no over-issuance)."""
    import psycopg
    from psycopg import sql

    from apps.coupons.models import Campaign, Coupon

    binary = pgbench_binary()
    if binary is None:
        return {"error": "pgbench not found (PATH, /usr/lib/postgresql/*/bin)"}
    campaigns, coupons = sql.Identifier(PGBENCH_CAMPAIGNS), sql.Identifier(PGBENCH_COUPONS)
    with psycopg.connect(config.database_url, autocommit=True) as conn:
        free = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int - count(*) FROM pg_stat_activity"
        ).fetchone()[0]  # type: ignore[index]
        clients = max(1, min(config.concurrency, free - 10))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(coupons, campaigns))
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                campaigns, sql.Identifier(Campaign._meta.db_table)
            )
        )
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                coupons, sql.Identifier(Coupon._meta.db_table)
            )
        )
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE id = %s").format(
                campaigns, sql.Identifier(Campaign._meta.db_table)
            ),
            [campaign_id],
        )
        conn.execute(sql.SQL("UPDATE {} SET issued_count = 0, total_quantity = 1000000000").format(campaigns))
    duration = max(1, round(config.duration_s))
    with tempfile.TemporaryDirectory(prefix="joopang-pgbench-") as tmp:
        script = Path(tmp) / "claim.sql"
        script.write_text(PGBENCH_SCRIPT.format(campaigns=PGBENCH_CAMPAIGNS, coupons=PGBENCH_COUPONS))
        argv = [
            binary, "--no-vacuum", "--client", str(clients), "--jobs", str(min(clients, config.cores)),
            "--time", str(duration), "--protocol", "prepared", "--define", f"campaign={campaign_id}",
            "--file", str(script), config.database_url,
        ]  # fmt: skip
        busy0, total0 = machine_ticks()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
        busy1, total1 = machine_ticks()
    out: dict[str, Any] = {
        "clients": clients,
        "duration_s": duration,
        "machine_busy_share": (busy1 - busy0) / (total1 - total0) if total1 > total0 else None,
    }
    with psycopg.connect(config.database_url, autocommit=True) as conn:
        issued = conn.execute(sql.SQL("SELECT issued_count FROM {}").format(campaigns)).fetchone()[0]  # type: ignore[index]
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(coupons)).fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(coupons, campaigns))
    out.update(issued_count=issued, coupon_rows=rows, exact=issued == rows)
    if done.returncode != 0:
        out["error"] = f"pgbench exited with {done.returncode}: {(done.stderr or done.stdout)[-500:]}"
        return out
    for line in done.stdout.splitlines():
        if line.startswith("tps = "):
            out["tps"] = float(line.split()[2])
        elif line.startswith("latency average = "):
            out["latency_avg_ms"] = float(line.split()[3])
        elif line.startswith("number of failed transactions: "):
            out["failed"] = int(line.split()[4])
    if "tps" not in out:
        out["error"] = f"no tps in pgbench's output: {done.stdout[-500:]}"
    return out


#: Coupon issuance: at least this share of pgbench's hot-row claims per second (issue 25).
COUPON_ISSUE_VS_PGBENCH = 0.8


def coupon_issue_check(load: Any, result: dict[str, Any], limit: dict[str, Any]) -> dict[str, Any]:
    """After the coupon issuance: what the database issued against the answers, and the
    issued coupons per second against pgbench's limit. Zero over-issuance: the campaign's
    counter equals its coupon rows, stays within the total, no member above the limit, and
    the 201 answers recorded in the window are no more than the coupons issued, which are no
    more than those answers plus the requests outside the window (warm-up, and at most one
    in flight per connection at its end)."""
    from django.db import connections
    from django.db.models import Count

    from apps.coupons.models import Campaign, Coupon

    facts = load.facts
    campaign = Campaign.objects.get(pk=facts["campaign_id"])
    rows = Coupon.objects.filter(campaign=campaign)
    coupon_rows = rows.count()
    above_limit = rows.values("user_id").annotate(n=Count("pk")).filter(n__gt=facts["per_user_limit"]).count()
    connections.close_all()
    answers_201 = int(result["statuses"].get("201", 0))
    # Requests finished in the warm-up, and at most one per connection finished after the window.
    outside = int(result.get("warmup_requests", 0)) + len(load.clients or [])
    exact = (
        campaign.issued_count == coupon_rows <= facts["coupons"]
        and above_limit == 0
        and answers_201 <= coupon_rows <= answers_201 + outside
    )
    issued_per_s = answers_201 / result["duration_s"] if result["duration_s"] else 0.0
    tps = limit.get("tps")
    ratio = issued_per_s / tps if tps else None
    share = f"{COUPON_ISSUE_VS_PGBENCH:.0%}"
    return {
        "campaign_id": campaign.pk,
        "issued_count": campaign.issued_count,
        "coupon_rows": coupon_rows,
        "answers_201": answers_201,
        "members_above_limit": above_limit,
        "issued_per_s": issued_per_s,
        "pgbench": limit,
        "vs_pgbench": ratio,
        "exact": exact,
        "targets": {
            "zero over-issuance": exact,
            f"issued/s ≥ {share} of pgbench's hot-row limit": ratio is not None
            and ratio >= COUPON_ISSUE_VS_PGBENCH,
        },
    }


def coupon_issue_note(check: dict[str, Any]) -> str:
    limit = check["pgbench"]
    if limit.get("tps"):
        measured = (
            f"pgbench {limit['tps']:.0f} claims/s ({limit['clients']} clients, {limit['duration_s']} s, latency "
            f"{limit.get('latency_avg_ms', 0):.1f} ms, {limit.get('failed', 0)} failed, machine "
            f"{_pct(limit.get('machine_busy_share'))} busy; counter {limit['issued_count']} = rows "
            f"{limit['coupon_rows']}: {'yes' if limit['exact'] else 'NO'})"
        )
    else:
        measured = f"pgbench limit not measured: {limit.get('error', '?')}"
    ratio = check["vs_pgbench"]
    return (
        f"coupon_issue check: {check['answers_201']} answers 201 in the window, {check['issued_per_s']:.0f} "
        f"issued/s = {'–' if ratio is None else format(ratio, '.0%')} of {measured}; campaign counter "
        f"{check['issued_count']}, {check['coupon_rows']} coupon rows, {check['members_above_limit']} members "
        f"above the limit ({'exact' if check['exact'] else 'OVER- OR UNDER-ISSUED: FAILED'})"
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def checkout_check() -> str:
    """After the checkouts: every wallet equals its ledger, no order paid twice (captured
    payments and payment ledger rows per order), on_hand = the sum of its movements."""
    from django.db import connections
    from django.db.models import Count, Sum

    from apps.inventory.models import StockLevel, StockMovement
    from apps.orders.models import Order, OrderPayment
    from apps.payments.models import WalletEntry
    from apps.payments.selectors import wallet_drift

    drift = len(wallet_drift())
    paid = Order.objects.filter(status=Order.Status.PAID).count()
    pending = Order.objects.filter(status=Order.Status.PENDING).count()
    captured_twice = (
        OrderPayment.objects.filter(status=OrderPayment.Status.CAPTURED)
        .values("order_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    captured = OrderPayment.objects.filter(status=OrderPayment.Status.CAPTURED).count()
    debits = WalletEntry.objects.filter(kind=WalletEntry.Kind.PAYMENT).count()
    paid_unmatched = (
        Order.objects.filter(status=Order.Status.PAID)
        .exclude(payments__status=OrderPayment.Status.CAPTURED)
        .count()
    )
    # The seed writes opening stock without movements: a level's ledger starts at its first
    # movement's on_hand_before, so on_hand must be that plus every delta since.
    level_table, movement_table = StockLevel._meta.db_table, StockMovement._meta.db_table
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE l.on_hand <> f.on_hand_before + m.total)
            FROM {level_table} l
            JOIN (SELECT stock_level_id, SUM(delta) AS total, MIN(id) AS first_id
                  FROM {movement_table} GROUP BY stock_level_id) m ON m.stock_level_id = l.id
            JOIN {movement_table} f ON f.id = m.first_id"""
        )
        checked, stock_off = cursor.fetchone()
    commits = StockMovement.objects.filter(kind=StockMovement.Kind.COMMIT).aggregate(units=Sum("delta"))[
        "units"
    ]
    connections.close_all()
    return (
        f"checkout check: {paid} orders paid ({pending} pending), {captured} captured payments and {debits} "
        f"wallet payment ledger rows; {captured_twice} orders with more than one captured payment, "
        f"{paid_unmatched} paid orders without one; {drift} wallets off their ledger sum; "
        f"{stock_off} of {checked} stock levels with movements whose on_hand is not their ledger "
        f"(first on_hand_before + every delta); {-(commits or 0)} units sold by commit movements"
    )


def main() -> int:
    config = Config.from_env()
    services = Services()
    interrupted = False

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    notes: list[str] = []
    try:
        exit_code = _run(config, services, notes)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping the servers")
        exit_code = 130
    except BenchError as exc:
        log(f"FAILED: {exc}")
        exit_code = 2
    finally:
        services.stop()
        if not interrupted:
            log("gunicorn and the Celery worker stopped")
    return exit_code


def _run(config: Config, services: Services, notes: list[str]) -> int:
    started_at = datetime.now(UTC)
    port = free_port()
    sandbox_port = free_port()
    os.environ.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        DATABASE_URL=config.database_url,
        REDIS_URL=config.redis_url,
        CELERY_BROKER_URL=config.redis_url,
        DB_POOL="false",  # this process and management commands: plain connections
        PAYMENT_PROVIDER_URL=f"http://{HOST}:{sandbox_port}",
    )
    os.environ.pop("DEBUG", None)
    import django

    django.setup()
    from django.core.management import get_commands
    from django.db import connections

    from bench.scenarios import REGISTRY, Context, Load, SkipScenario, as_load, missing_requirements

    pg = recreate_database(config)
    notes.append(size_threads(config, pg))
    clear_redis(config.redis_url)
    env = dict(os.environ)
    manage(["migrate", "--noinput"], env)
    have_seed = "seed_catalog" in get_commands()
    seed_s = None
    if have_seed:
        started = time.monotonic()
        manage(["seed_catalog", "--products", str(config.products)], env)
        seed_s = round(time.monotonic() - started, 1)
    else:
        notes.append("`manage.py seed_catalog` does not exist yet: catalog scenarios skipped")
        log(notes[-1])
    dataset = dataset_facts()
    fill_rows = {k: int(os.environ.get(f"BENCH_FILL_{k.upper()}") or 0) for k in ("movements", "outbox")}
    if any(fill_rows.values()):  # bench.growth's large run: a history of movements and events
        from bench.growth import fill

        dataset["fill"] = fill(**fill_rows)
    settle_database(config)
    log(f"dataset: {dataset}")
    services.start_sandbox(sandbox_port)

    ctx = Context(clients=config.concurrency)
    plan: list[tuple[Any, Load]] = []
    skipped: list[dict[str, str]] = []
    names = config.only or list(REGISTRY)
    if "baseline" in REGISTRY and "baseline" not in names:
        # Every ratio and throughput target of the table is to the baseline of the same run.
        names = ["baseline", *names]
        log("BENCH_SCENARIOS without the baseline: it runs first (every ratio is to it)")
    for name in names:
        if name not in REGISTRY:
            raise BenchError(f"unknown scenario {name!r}; known: {', '.join(REGISTRY)}")
        item = REGISTRY[name]
        missing = missing_requirements(item)
        if missing:
            skipped.append({"name": name, "reason": f"app(s) {', '.join(missing)} not installed"})
        elif item.requires and "catalog" in item.requires and not have_seed:
            skipped.append({"name": name, "reason": "no seed_catalog command yet, so no catalog data"})
        else:
            try:
                load = as_load(item.build(ctx))
            except SkipScenario as exc:
                skipped.append({"name": name, "reason": str(exc)})
                continue
            plan.append((item, load))
    for skip in skipped:
        log(f"skipping {skip['name']}: {skip['reason']}")
    connections.close_all()
    if not plan:
        raise BenchError("no scenario can run")

    child_env = {
        **env,
        "DB_POOL": "true",
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": str(config.threads),
        "BENCH_BIND": f"{HOST}:{port}",
        "BENCH_WORKERS": str(config.workers),
        "BENCH_THREADS": str(config.threads),
        "BENCH_WORKER_CLASS": config.worker_class,
        "PYTHONUNBUFFERED": "1",
    }
    gunicorn = services.start(
        "gunicorn",
        [PYTHON, "-m", "gunicorn", "--config", "bench/gunicorn.conf.py"],
        child_env,
    )
    services.start(
        "celery",
        [
            PYTHON, "-m", "celery", "-A", "joopang", "worker", "--pool", "solo", "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--hostname", "bench@%h",
        ],
        {**child_env, "DB_POOL": "false"},
    )  # fmt: skip
    log(
        f"gunicorn on {HOST}:{port}: {config.workers} {config.worker_class} workers x {config.threads} threads; one Celery worker"
    )
    wait_ready(port, services)
    wait_worker(services)
    log("/readyz answered 200 and the worker answered a ping")

    from bench.report import build_report, render_markdown

    floor = client_floor(config, keep_alive=config.worker_class != "sync")
    log(
        f"load generator alone (do-nothing server): {floor['rps']:.0f} req/s, P50 {floor['p50_ms']:.1f} ms, "
        f"P95 {floor['p95_ms']:.1f} ms, {floor['loadgen_cpu_ms_per_request']:.2f} ms CPU per request"
    )
    meter = CpuMeter(gunicorn.pid, config.database_url, config.db_name)
    summaries = []
    server_env: dict[str, str] = {}
    flash_checks: list[dict[str, Any]] = []
    coupon_checks: list[dict[str, Any]] = []
    for item, load in plan:
        paths = load.all_paths()
        if item.server_env != server_env:  # e.g. without Redis: restart gunicorn
            server_env = dict(item.server_env)
            services.stop_one("gunicorn")
            gunicorn = services.start(
                "gunicorn",
                [PYTHON, "-m", "gunicorn", "--config", "bench/gunicorn.conf.py"],
                {**child_env, **server_env},
            )
            wait_ready(port, services)
            meter = CpuMeter(gunicorn.pid, config.database_url, config.db_name)
            log(f"gunicorn restarted with {server_env or 'the run environment'}")
        if load.preflight:
            for problem in preflight(port, item.name, paths, item.headers, item.method, load):
                log(f"preflight: {problem}")
        services.check_alive()
        log(f"{item.name}: {len(set(paths))} distinct paths, {config.concurrency} connections, "
            f"{config.warmup_s:g} + {config.duration_s:g} s")  # fmt: skip
        limit = None
        if load.facts.get("kind") == "coupon_issue":
            # PostgreSQL's own limit for the same claim transaction, right before the load.
            log(
                f"pgbench: the hot-row claim transaction, {config.concurrency} clients, {config.duration_s:g} s"
            )
            limit = pgbench_hot_row(config, load.facts["campaign_id"])
            log(f"pgbench: {limit}")
        result = run_load(config, port, paths, item.headers, meter, item.method, load)
        for summary in scenario_summaries(item, load, result, config.cores):
            summaries.append(summary)
            log(f"{summary.name}: {summary.rps:.0f} req/s, P50 {summary.p50_ms:.1f} ms, P95 {summary.p95_ms:.1f} ms, "
                f"P99 {summary.p99_ms:.1f} ms, {summary.errors} errors")  # fmt: skip
            for sample in summary.extra.get("error_samples", []):
                log(f"  error sample: {sample}")
        if load.flows:
            notes.append(flow_note(item.name, load, result))
            log(notes[-1])
        row = next(s for s in reversed(summaries) if s.name == item.name) if not load.flows else None
        if load.facts.get("kind") == "coupon_issue" and row is not None:
            coupon_checks.append(coupon_issue_check(load, result, limit or {}))
            row.extra["targets"] = coupon_checks[-1]["targets"]
            notes.append(coupon_issue_note(coupon_checks[-1]))
            log(notes[-1])
        elif load.facts.get("campaign_id"):
            base = next((s for s in summaries if s.name == "baseline"), None)
            flash_checks.append(flash_sale_check(item.name, load, result, base.rps if base else None))
            notes.append(flash_note(flash_checks[-1]))
            log(notes[-1])
            if row is not None:  # its issuance and sold-out targets judged in the table too
                row.extra["targets"] = {
                    k: v for k, v in flash_checks[-1]["targets"].items() if "P95" not in k
                }
            if not flash_checks[-1]["exact"]:
                log(f"FAILED: {item.name} did not issue exactly {load.facts['coupons']} coupons")
    services.check_alive()
    if any(item.name == "top_up" for item, _load in plan):
        notes.append(wallet_check(services))
        log(notes[-1])
    if any(item.name == "checkout" for item, _load in plan):
        notes.append(checkout_check())
        log(notes[-1])

    meta = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "cpu_count": config.cores,
        "cpu_model": cpu_model(),
        "loadavg_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "python": platform.python_version(),
        "dataset": {**dataset, "requested_products": config.products, "seed_seconds": seed_s},
        "concurrency": config.concurrency,
        "duration_s": config.duration_s,
        "warmup_s": config.warmup_s,
        "server": (
            f"gunicorn {config.worker_class}, {config.workers} workers "
            f"({'2 x ' + str(config.cores) + ' cores + 1' if config.workers == 2 * config.cores + 1 else 'BENCH_WORKERS'}) "
            f"x {config.threads} "
            f"threads, psycopg pool max {config.threads} per worker; 1 Celery worker (solo)"
        ),
        "database": (
            f"PostgreSQL {pg['version']} (max_connections {pg['max_connections']}, "
            f"shared_buffers {pg['shared_buffers']}), Redis {config.redis_url}"
        ),
        "client_floor": floor,
        "settings": SETTINGS,
        "notes": notes,
        "flash_sales": flash_checks,
        "coupon_issues": coupon_checks,
    }
    report = build_report(meta=meta, summaries=summaries, skipped=skipped)
    markdown = render_markdown(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    # BENCH_REPORT: the reports' base name; bench.growth gives each of its runs its own, so
    # a growth run leaves the full benchmark's latest.md alone.
    name = os.environ.get("BENCH_REPORT") or "latest"
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (RESULTS_DIR / f"{name}.md").write_text(markdown)
    print()
    print(markdown)
    log(f"wrote {RESULTS_DIR / f'{name}.json'} and {RESULTS_DIR / f'{name}.md'}")
    if any(not check["exact"] for check in flash_checks):
        log("a flash sale issued a number of coupons other than those on offer: exit 1")
        return 1
    if any(not check["exact"] for check in coupon_checks):
        log("the coupon issuance's counter, rows and answers disagree: exit 1")
        return 1
    if report["errors"]:
        log(f"{report['errors']} requests failed: exit 1")
        return 1
    if config.strict and not report["passed"]:
        log("BENCH_STRICT: a target was missed: exit 1")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
