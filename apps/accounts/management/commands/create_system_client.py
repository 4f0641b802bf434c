"""Create a system client; prints its client_id and client_secret once, as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts import services
from apps.accounts.models import SystemClient


class Command(BaseCommand):
    help = "create_system_client NAME --role data_platform (the secret is shown only now)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", default="data_platform", choices=SystemClient.Role.values)

    def handle(self, *args: Any, **options: Any) -> None:
        if SystemClient.objects.filter(name=options["name"]).exists():
            raise CommandError(f"a system client named {options['name']!r} already exists")
        client, secret = services.system_client_create(name=options["name"], role=options["role"])
        self.stdout.write(
            json.dumps(
                {
                    "name": client.name,
                    "client_id": client.client_id,
                    "client_secret": secret,
                    "role": client.role,
                }
            )
        )
