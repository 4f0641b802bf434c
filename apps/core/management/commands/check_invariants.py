"""``manage.py check_invariants``: every data invariant of Joopang, checked read-only.

Collects ``INVARIANTS`` from each app's ``invariants`` module (apps.core.invariants), runs
each as one SQL aggregate, prints every breach with its count and a few example ids (one
JSON document with ``--json``) and exits 1 on any breach, 0 when all hold: fit for cron,
CI, the fault and soak tests, and an operator after an incident or an upgrade.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from django.core.management.base import BaseCommand

from apps.core import invariants


class Command(BaseCommand):
    help = "Check every data invariant (stock, wallets, coupons, orders, outbox); exit 1 on any breach."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true", help="Print the results as one JSON document.")
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            metavar="PREFIX",
            help="Check only invariants whose name starts with PREFIX (e.g. inventory.); repeatable.",
        )

    def handle(self, *args: object, **options: object) -> None:
        results = invariants.check_all(options["only"])  # type: ignore[arg-type]
        breaches = [r for r in results if not r.ok]
        if options["json"]:
            document = {
                "clean": not breaches,
                "checked": len(results),
                "breaches": [asdict(r) for r in breaches],
                "passed": [r.name for r in results if r.ok],
            }
            self.stdout.write(json.dumps(document, ensure_ascii=False))
        else:
            for r in results:
                if r.ok:
                    self.stdout.write(f"ok      {r.name}")
                else:
                    self.stdout.write(
                        f"BREACH  {r.name}: {r.count} — {r.description}; e.g. {', '.join(r.examples)}"
                    )
            self.stdout.write(
                f"invariants: {len(results) - len(breaches)} of {len(results)} hold"
                + (f", {len(breaches)} breached" if breaches else "")
            )
        if breaches:
            sys.exit(1)
