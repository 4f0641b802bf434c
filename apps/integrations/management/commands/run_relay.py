"""``manage.py run_relay``: run the outbox relay in the foreground, without Celery.

Celery runs it in production (``joopang.integrations.relay_run``, woken on commit and every
few seconds by beat). This command is the same loop for a terminal (watch the log lines
while trying the receiver locally) and for the tests that kill a relay process mid-batch:
it drains what is due, sleeps ``--interval`` when nothing is, and repeats.
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand

from apps.core.models import OutboxEvent
from apps.integrations.services import relay_drain, relay_enabled


class Command(BaseCommand):
    help = "Deliver due outbox events to DATA_PLATFORM_WEBHOOK_URL in a loop (Ctrl-C stops)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--interval", type=float, default=1.0, help="Sleep when nothing is due (s).")
        parser.add_argument("--once", action="store_true", help="Drain once and exit.")
        parser.add_argument(
            "--until-empty",
            action="store_true",
            help="Exit once no event is pending or being delivered (failed ones do not count).",
        )
        parser.add_argument(
            "--max-seconds", type=float, default=0.0, help="Exit after this long (0 = never)."
        )
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Events per call (default from settings)."
        )

    def handle(self, *args: object, **options: object) -> None:
        if not relay_enabled():
            self.stderr.write("DATA_PLATFORM_WEBHOOK_URL is not set: the relay has nowhere to deliver.")
            return
        interval = float(options["interval"])  # type: ignore[arg-type]
        limit = options["batch_size"]
        max_seconds = float(options["max_seconds"])  # type: ignore[arg-type]
        started = time.monotonic()
        self.stdout.write("relay running")
        self.stdout.flush()
        while True:
            result = relay_drain(limit=int(limit) if limit else None)  # type: ignore[call-overload]
            if result.batches:
                self.stdout.write(json.dumps(result.as_dict()))
                self.stdout.flush()
            if options["once"]:
                return
            if max_seconds and time.monotonic() - started > max_seconds:
                return
            if result.stopped in ("empty", "circuit_open", "disabled"):
                if (
                    options["until_empty"]
                    and not OutboxEvent.objects.filter(
                        status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.DELIVERING]
                    ).exists()
                ):
                    return
                time.sleep(interval)
