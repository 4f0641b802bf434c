"""`make run` on the embedded default: web + worker + beat (+ the payment sandbox) serve and work, Ctrl-C stops all
of them cleanly within honcho's 5 s (no SIGKILL), and no Celery superuser warning as root.

This starts the real command in a fresh VAR_DIR (its own SQLite file and filesystem
broker), with every external-service variable removed, exactly as a newcomer would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _embedded_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "DJANGO_SETTINGS_MODULE",
            "PYTEST_XDIST_WORKER",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update({"VAR_DIR": str(var_dir), "PORT": str(port), "LOG_FORMAT": "json"})
    return env


def _wait_for(url: str, deadline: float) -> httpx.Response:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 in time: {last}")


def _started_pids(output: str) -> dict[str, int]:
    """honcho's "web.1 started (pid=123)" lines -> {"web": 123, ...}."""
    return {m[1]: int(m[2]) for m in re.finditer(r"(\w+)\.1 started \(pid=(\d+)\)", output)}


def test_make_run_serves_everything_and_the_worker_executes_a_task(tmp_path):
    port = _free_port()
    env = _embedded_env(tmp_path / "var", port)
    sandbox_port = _free_port()
    env["SANDBOX_PORT"] = str(sandbox_port)
    env.pop("PAYMENT_PROVIDER_URL", None)
    receiver_port = _free_port()
    env["RECEIVER_PORT"] = str(receiver_port)
    for name in ("DATA_PLATFORM_WEBHOOK_URL", "DATA_PLATFORM_WEBHOOK_SECRET"):
        env.pop(name, None)
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", time.monotonic() + 240)
        ready = _wait_for(f"{base}/readyz", time.monotonic() + 30).json()
        assert ready["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}
        schema = httpx.get(f"{base}/api/v1/schema/", timeout=10)
        assert schema.status_code == 200 and b"openapi:" in schema.content
        ko = httpx.get(f"{base}/", headers={"Accept-Language": "ko"}, timeout=10)
        en = httpx.get(f"{base}/?lang=en", timeout=10)
        assert ko.status_code == en.status_code == 200
        assert '<html lang="ko">' in ko.text and "검색" in ko.text
        assert '<html lang="en">' in en.text and "Search" in en.text
        # The payment sandbox answers where the web process will look for the provider.
        sandbox = _wait_for(f"http://127.0.0.1:{sandbox_port}/_sandbox/stats", time.monotonic() + 30)
        assert sandbox.json()["fault"]["mode"] == "ok"
        # The reference receiver answers where the relay delivers.
        received = _wait_for(f"http://127.0.0.1:{receiver_port}/", time.monotonic() + 30).json()
        assert {"distinct", "duplicates", "rejected"} <= set(received)

        # The worker picks a task from the filesystem broker and stores its result.
        code = "from apps.core.tasks import ping_task; print(ping_task.delay('hello').get(timeout=120))"
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "joopang.settings.dev"},
            capture_output=True,
            text=True,
            timeout=150,
        )
        log.flush()
        assert result.stdout.strip().endswith("hello"), (
            result.stderr[-1500:] + Path(log.name).read_text()[-4000:]
        )
        # Let beat and the worker settle into their loops, as after any real start.
        time.sleep(2)
    finally:
        log.flush()
        children = _started_pids(Path(log.name).read_text())
        stopping = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        stopped_after = time.monotonic() - stopping
        log.seek(0)
        output = log.read()
    assert "Storefront" in output and f"http://127.0.0.1:{port}/" in output
    assert f"http://127.0.0.1:{sandbox_port}" in output  # the banner names the sandbox
    assert f"http://127.0.0.1:{receiver_port}/" in output  # and the event receiver
    for name in ("web", "worker", "beat", "payments", "receiver"):
        assert f"{name}.1 " in output or f"{name}.1 |" in output, f"{name} did not start:\n{output[-3000:]}"
    # Ctrl-C stopped every process of the stack cleanly and in time: honcho never had to
    # SIGKILL anything (it does after 5 s), the worker finished its warm shutdown (rc 0),
    # and none of the three processes is left.
    assert "SIGKILL" not in output, output[-3000:]
    assert stopped_after < 5, f"stopping took {stopped_after:.1f} s:\n{output[-3000:]}"
    assert set(children) == {"web", "worker", "beat", "payments", "receiver"}, output[-3000:]
    assert "worker.1 stopped (rc=0)" in output, output[-3000:]
    for name, pid in children.items():
        assert f"{name}.1 stopped" in output, output[-3000:]
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # Started as root (containers, CI), the dev worker does not print Celery's superuser warning.
    assert "superuser privileges" not in output
    # Nothing listens on the port any more.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0

    # Running again reuses the data: seeding twice adds nothing.
    def counts() -> dict[str, int]:
        script = (
            "import django, json; django.setup(); from django.apps import apps; "
            "print(json.dumps({m._meta.label: m.objects.count() for m in apps.get_models() "
            "if m._meta.app_label in {'accounts', 'catalog', 'inventory', 'markets'}}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "DJANGO_SETTINGS_MODULE": "joopang.settings.dev"},
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    before = counts()
    subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "joopang.settings.dev"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert counts() == before
