"""``manage.py payment_sandbox``: serve the built-in sandbox payment provider.

``make run`` starts it beside the web server so a developer can add methods and top up
without a real provider; ``--fault`` (or ``PAYMENT_SANDBOX_FAULT``) starts it misbehaving,
and ``POST /_sandbox/faults`` changes that live. Serves until interrupted and prints one
line per request (operation, our reference, answer; never a token).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.payments.providers.sandbox import DEFAULT_DELAYS, FAULT_MODES, SandboxServer


class Command(BaseCommand):
    help = "Serve the sandbox payment provider (in-memory) until interrupted."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8765, help="Port to bind (default 8765).")
        parser.add_argument(
            "--fault",
            choices=FAULT_MODES,
            default=None,
            help="Fault mode at start (default PAYMENT_SANDBOX_FAULT, usually ok).",
        )
        parser.add_argument(
            "--delay",
            type=float,
            default=None,
            help="Seconds a slow, timeout or lost fault waits (default: 0.5 for slow, the "
            "client's read timeout plus one for timeout and lost).",
        )

    def handle(self, *args: object, **options: object) -> None:
        fault = str(options["fault"] or settings.PAYMENT_SANDBOX_FAULT)
        delay = options["delay"]
        if delay is None and fault in ("timeout", "lost"):
            delay = float(settings.PAYMENT_PROVIDER_READ_TIMEOUT) + 1
        try:
            server = SandboxServer(
                host=str(options["host"]), port=int(str(options["port"])), log=self.stdout.write
            )
            server.set_fault(fault, delay=float(str(delay)) if delay is not None else None)
        except (OSError, ValueError) as exc:
            raise CommandError(f"payment sandbox: {exc}") from exc
        shown = delay if delay is not None else DEFAULT_DELAYS.get(fault, 0.0)
        self.stdout.write(f"payment sandbox on {server.url} (fault {fault}, delay {shown}s); Ctrl-C stops it")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("payment sandbox stopped")
        finally:
            server.stop()
