"""The Celery worker of ``make run`` (Procfile.dev), tuned for a laptop.

Why a wrapper instead of ``celery -A joopang worker`` in the Procfile:

- **Ctrl-C stops it in time.** honcho answers Ctrl-C by sending SIGTERM to each process
  *group* and SIGKILLs whatever still runs 5 s later. With the default prefork pool the
  SIGTERM also hits the pool's child processes, which die under the main process while it
  is shutting down warmly; it then waits for them well past 5 s and gets killed. A single
  process (``--pool solo``, enough for the demo's few short tasks) has no children to lose.
  The filesystem broker is polled: Celery's blocking loop for such transports notices a
  warm shutdown only when its 2-second wait for messages ends, then waits for its timer
  thread, 3-4 s in all, too close to honcho's 5 s. So when SIGTERM/SIGINT arrive while
  the worker is idle (no task running or reserved), it stops right away; with a task
  running it stays Celery's warm shutdown (the task finishes). Production workers (Redis
  broker, prefork, N processes) are untouched.
- **No superuser warning when started as root** (containers, fresh VMs): Celery warns
  because a root worker that accepted pickle could be made to run code. This one accepts
  JSON only (CELERY_ACCEPT_CONTENT; Celery refuses to start as root with pickle anyway),
  binds nothing and exists only on a development machine, so the warning is silenced here
  and only here. The Docker image runs its workers as the unprivileged ``joopang`` user.
"""

from __future__ import annotations

import os
import signal
import warnings
from typing import Any

from celery.exceptions import SecurityWarning, WorkerShutdown
from celery.platforms import EX_OK
from celery.signals import worker_ready
from celery.worker import state as worker_state
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


def _stop_at_once_when_idle(**kwargs: Any) -> None:
    """Wrap Celery's SIGTERM/SIGINT handlers (installed by now): after Celery has started
    its warm shutdown, an idle worker leaves its polling loop at once."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        celery_handler = signal.getsignal(signum)
        if not callable(celery_handler):
            continue

        def handler(num: int, frame: Any, _celery_handler: Any = celery_handler) -> None:
            _celery_handler(num, frame)  # warm shutdown: state.should_stop is set
            if not worker_state.active_requests and not worker_state.reserved_requests:
                raise WorkerShutdown(EX_OK)  # nothing to finish: leave the loop now

        signal.signal(signum, handler)


class Command(BaseCommand):
    help = "Run the development Celery worker (one process, quick to stop); used by make run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args: Any, **options: Any) -> None:
        from joopang.celery import app

        if "pickle" in settings.CELERY_ACCEPT_CONTENT:
            raise SystemExit("dev_worker refuses to run with pickle in CELERY_ACCEPT_CONTENT")
        if os.geteuid() == 0:
            warnings.filterwarnings(
                "ignore",
                message="You're running the worker with superuser privileges",
                category=SecurityWarning,
            )
        worker_ready.connect(_stop_at_once_when_idle, weak=False)
        app.worker_main(
            ["worker", "--pool", "solo", "--loglevel", options["loglevel"], "--hostname", "worker@%h"]
        )
