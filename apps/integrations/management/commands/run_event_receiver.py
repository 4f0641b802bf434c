"""``manage.py run_event_receiver``: the reference receiver of the relay's webhook.

Verifies each request's signature and timestamp, dedupes events by id and stores them in a
SQLite file (``--db``); ``GET /`` answers the counts. Point the relay at it with
``DATA_PLATFORM_WEBHOOK_URL=http://127.0.0.1:8766/`` and the same secret. ``--faults``
makes it misbehave on a cycle (``ok,500,timeout,drop,slow,stall``), ``--fail-rate`` at
random. See ``apps.integrations.receiver``.
"""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.integrations.receiver import EventReceiver, parse_faults


class Command(BaseCommand):
    help = (
        "Receive the relay's signed webhook batches, dedupe by event id and store them (until interrupted)."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
        parser.add_argument(
            "--port", type=int, default=8766, help="Port to bind (default 8766; 0 = any free)."
        )
        parser.add_argument(
            "--secret", default=None, help="Shared secret (default DATA_PLATFORM_WEBHOOK_SECRET)."
        )
        parser.add_argument(
            "--db", default="var/received-events.sqlite3", help="SQLite file of what was received."
        )
        parser.add_argument(
            "--faults",
            default="",
            help="Fault schedule, one step per request, cycling: ok, an HTTP status (500, 429...), "
            "timeout, slow, drop, stall. Example: ok,500,timeout,drop,ok",
        )
        parser.add_argument(
            "--fail-rate", type=float, default=0.0, help="Share of requests answered 500 (0-1)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of --fail-rate.")
        parser.add_argument(
            "--tolerance", type=float, default=300.0, help="Accepted clock skew of Joopang-Timestamp (s)."
        )
        parser.add_argument(
            "--hang", type=float, default=15.0, help="Seconds a timeout or slow step holds the request."
        )

    def handle(self, *args: object, **options: object) -> None:
        secret = str(options["secret"] or settings.DATA_PLATFORM_WEBHOOK_SECRET or "")
        if not secret:
            raise CommandError("no secret: pass --secret or set DATA_PLATFORM_WEBHOOK_SECRET")
        try:
            faults = parse_faults(str(options["faults"] or "")) or None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        receiver = EventReceiver(
            secret=secret,
            db=str(options["db"]),
            host=str(options["host"]),
            port=int(options["port"]),  # type: ignore[call-overload]
            faults=faults,
            fail_rate=float(options["fail_rate"]),  # type: ignore[arg-type]
            seed=int(options["seed"]),  # type: ignore[call-overload]
            tolerance=float(options["tolerance"]),  # type: ignore[arg-type]
            hang_seconds=float(options["hang"]),  # type: ignore[arg-type]
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        receiver.start()
        # The first line is machine-readable: tests and scripts read the URL from it.
        self.stdout.write(f"listening {receiver.url}", ending="\n")
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            stats = receiver.stats()
            receiver.stop()
            self.stdout.write(
                f"received {stats['distinct']} distinct events, {stats['duplicates']} duplicates, "
                f"{stats['rejected']} requests rejected, {stats['requests']} requests"
            )
