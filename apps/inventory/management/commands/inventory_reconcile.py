"""``manage.py inventory_reconcile``: check the stock ledger against the stock rows.

For every stock level, ``on_hand`` must equal the sum of its movements and ``reserved``
the quantity of its active reservations. Prints each drift (JSON with ``--json``) and exits
with status 1 when there is any, 0 otherwise: fit for cron, CI and alerting.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from apps.inventory.selectors import stock_drift


class Command(BaseCommand):
    help = "Report stock rows whose on_hand or reserved drifted from the ledger; exit 1 on any drift."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true", help="Print the drift as one JSON document.")

    def handle(self, *args: object, **options: object) -> None:
        drift = stock_drift()
        if options["json"]:
            self.stdout.write(json.dumps({"drift": drift}, ensure_ascii=False))
        elif not drift:
            self.stdout.write("inventory: every stock row matches its ledger")
        else:
            for row in drift:
                self.stderr.write(
                    "drift: {sku}@{warehouse} (stock level {stock_level_id}): on_hand {on_hand} vs "
                    "movements {movements_sum}; reserved {reserved} vs active reservations "
                    "{active_reservations}".format(**row)
                )
            self.stderr.write(f"inventory: {len(drift)} stock rows drifted")
        if drift:
            sys.exit(1)
