"""The last-units race on SQLite with several OS processes (issue 17 "Show"): the IMMEDIATE
write transaction serializes reserves, so exactly N callers win and the ledger adds up.

Runs ``sqlite_race_worker`` in subprocesses against a fresh SQLite file (whatever database
the rest of the suite uses), so it runs in the SQLite and the PostgreSQL CI jobs alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

PROCESSES = 4
THREADS = 3
ROOT = Path(settings.BASE_DIR)


def _run(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.concurrency.sqlite_race_worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen) -> object:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_last_units_on_sqlite_go_to_exactly_n_processes(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "joopang.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",  # countdowns go nowhere: no broker files left behind
        "LOG_LEVEL": "ERROR",
    }
    env.pop("REDIS_URL", None)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    assert _result(_run(env, "setup")) == "ok"

    racers = [_run(env, "race", str(p), str(THREADS)) for p in range(PROCESSES)]
    results = [row for proc in racers for row in _result(proc)]  # type: ignore[union-attr]

    outcomes = [outcome for _, outcome in results]
    assert len(outcomes) == PROCESSES * THREADS
    assert outcomes.count("reserved") == 5  # 3 + 2 units over two warehouses
    assert set(outcomes) == {"reserved", "inventory.insufficient_stock"}
    assert _result(_run(env, "check")) == {"levels": [[3, 3], [2, 2]], "drift": []}

    winners = sorted(owner for owner, outcome in results if outcome == "reserved")
    settlers = [_run(env, "settle", str(i), *winners[i::2]) for i in range(2)]
    settled = [row for proc in settlers for row in _result(proc)]  # type: ignore[union-attr]

    sold = sum(1 for _, how in settled if how == "committed")
    check = _result(_run(env, "check"))
    assert check["drift"] == []  # type: ignore[index]
    assert sum(on_hand for on_hand, _ in check["levels"]) == 5 - sold  # type: ignore[index]
    assert sum(reserved for _, reserved in check["levels"]) == 0  # type: ignore[index]


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
