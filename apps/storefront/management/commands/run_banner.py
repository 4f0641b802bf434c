"""Print where everything is, for ``make run``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Print the URLs of the running stack."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        base = f"http://127.0.0.1:{options['port']}"
        db = settings.DATABASES["default"]
        lines = [
            "",
            "Joopang is starting (web + Celery worker + beat + payment sandbox + event receiver). "
            "Ctrl-C stops all of them.",
            f"  Storefront   {base}/            ({base}/?lang=en for English)",
            f"  Admin        {base}/admin/",
            f"  API docs     {base}/api/v1/docs/   schema: {base}/api/v1/schema/",
            f"  Health       {base}/healthz   {base}/readyz   {base}/metrics",
            f"  Database     {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}",
            f"  Broker       {settings.CELERY_BROKER_URL}",
            f"  Payments     {settings.PAYMENT_PROVIDER_URL}  (sandbox; faults: POST /_sandbox/faults)",
            f"  Events       {settings.DATA_PLATFORM_WEBHOOK_URL or '(no webhook: events wait for the pull feed)'}"
            "  (the outbox relay's signed batches; GET it for counts)",
            "",
        ]
        self.stdout.write("\n".join(lines))
