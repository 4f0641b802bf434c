"""Run a function in many OS processes at once, against the test database.

Used by concurrency tests (``transaction=True``, PostgreSQL): each child is forked from
the test process, so it inherits the test settings and database name; it drops the
inherited connection first and opens its own. A barrier releases all children together.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Callable
from typing import Any


def _child(fn: Callable[..., Any], args: tuple[Any, ...], barrier: Any, queue: Any) -> None:
    from django.db import connections

    # The parent closed its connections before forking: nothing to inherit.
    try:
        barrier.wait(timeout=30)
        queue.put(("ok", fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        connections.close_all()


def run_concurrently(
    fn: Callable[..., Any], arg_list: list[tuple[Any, ...]], timeout: float = 120
) -> list[Any]:
    """Call ``fn(*args)`` for each args in its own process, all released at once.

    Returns the results (order not guaranteed); raises if any child failed or hung.
    ``fn`` must be a module-level function and return something picklable.
    """
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(arg_list))
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(fn, args, barrier, queue)) for args in arg_list]
    for proc in procs:
        proc.start()
    results: list[Any] = []
    errors: list[str] = []
    for _ in procs:
        status, value = queue.get(timeout=timeout)
        (results if status == "ok" else errors).append(value)
    for proc in procs:
        proc.join(timeout=timeout)
    if errors:
        raise AssertionError("child process failed:\n" + "\n".join(errors))
    return results


def celery_worker(*, queue: str, env: dict[str, str], cwd: Any) -> Any:
    """A real Celery worker (solo pool) consuming only ``queue``, as a subprocess with
    ``env`` (settings, database, broker); its output is piped. The caller terminates it."""
    import subprocess
    import sys

    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "joopang",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "--hostname",
            f"{queue}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
