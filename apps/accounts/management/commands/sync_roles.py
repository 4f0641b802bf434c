"""Give each role group exactly the permissions the apps declare (apps.accounts.roles)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.roles import RoleGrantError, roles_sync


class Command(BaseCommand):
    help = "Sync role groups with every app's role_grants (strict: unknown permissions fail)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = roles_sync(strict=True)
        except RoleGrantError as exc:
            raise CommandError(str(exc)) from exc
        for role, count in counts.items():
            self.stdout.write(f"{role}: {count} permissions")
