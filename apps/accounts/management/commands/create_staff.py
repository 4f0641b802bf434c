"""Create or update a staff user with one role: for operators and scripts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts import roles, services
from apps.core.errors import DomainError


class Command(BaseCommand):
    help = "Create or update a staff user: create_staff EMAIL --role ROLE --password PASSWORD [--market KR]"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=roles.STAFF_ROLES)
        parser.add_argument("--password", required=True)
        parser.add_argument("--market", default=None, help="limit the user to this market (e.g. KR)")
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user, created = services.staff_create_or_update(
                email=options["email"],
                role=options["role"],
                password=options["password"],
                market=options["market"],
                name=options["name"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        verb = "created" if created else "updated"
        scope = options["market"] or "all markets"
        self.stdout.write(f"{verb} {user.email} ({options['role']}, {scope})")
