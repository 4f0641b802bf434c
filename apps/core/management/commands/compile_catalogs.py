"""Compile every ``django.po`` under ``locale/`` and ``apps/*/locale/`` to ``.mo`` with Babel.

Django's own ``compilemessages`` needs GNU gettext's ``msgfmt``; this needs only Python,
so ``make run`` works on a fresh machine.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand


def catalog_paths() -> list[Path]:
    base = Path(settings.BASE_DIR)
    roots = [base / "locale", *sorted((base / "apps").glob("*/locale"))]
    return [po for root in roots if root.is_dir() for po in sorted(root.glob("*/LC_MESSAGES/django.po"))]


class Command(BaseCommand):
    help = "Compile gettext catalogs (.po -> .mo) without GNU gettext."

    def handle(self, *args: object, **options: object) -> None:
        compiled = 0
        for po_path in catalog_paths():
            mo_path = po_path.with_suffix(".mo")
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            locale = po_path.parent.parent.name
            with po_path.open("rb") as handle:
                catalog = read_po(handle, locale=locale)
            with mo_path.open("wb") as handle:
                write_mo(handle, catalog, use_fuzzy=False)
            compiled += 1
        self.stdout.write(f"compiled {compiled} catalog(s)")
