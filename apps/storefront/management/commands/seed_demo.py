"""Seed demo data for ``make run``: idempotent, refused under production settings.

Each app that has demo data provides ``apps/<app>/demo.py`` with
``seed(*, stdout) -> list[str]`` returning lines to print (e.g. demo logins). Apps run in
INSTALLED_APPS order, so markets come before accounts, accounts before catalog.
"""

from __future__ import annotations

import importlib
import importlib.util

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create demo data (users, catalog...) once; running it again adds nothing."

    def handle(self, *args: object, **options: object) -> None:
        if settings.SETTINGS_MODULE.endswith(".prod"):
            raise CommandError("seed_demo refuses to run with production settings")
        lines: list[str] = []
        for config in apps.get_app_configs():
            if not config.name.startswith("apps."):
                continue
            module_name = f"{config.name}.demo"
            if importlib.util.find_spec(module_name) is None:
                continue
            module = importlib.import_module(module_name)
            lines.extend(module.seed(stdout=self.stdout))
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS("demo data ready"))
