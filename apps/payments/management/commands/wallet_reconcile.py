"""``manage.py wallet_reconcile``: balance = ledger sum for every wallet, and no charge
pending too long (issue 19 item 6; the beat task ``joopang.payments.wallets_reconcile``
runs the same check hourly).

Read-only: it reports and never repairs (ops fix a drift through an adjustment, which the
ledger then records). Prints each finding (one JSON document with ``--json``) and exits 1
when there is any, 0 when clean: fit for cron, CI and alerting. The gauges
``joopang_wallet_drift_wallets`` and ``joopang_payment_charges_overdue`` are set as a side
effect, as the task does.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.core import clock
from apps.payments import services


class Command(BaseCommand):
    help = (
        "Report wallets whose balance differs from their ledger sum and charges pending "
        "too long; exit 1 on any finding."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true", help="Print the findings as one JSON document.")

    def handle(self, *args: object, **options: object) -> None:
        now = clock.now()
        report = services.wallets_reconcile(now=now)
        drift: list[dict[str, Any]] = [
            {
                "wallet_id": row.wallet_id,
                "user_id": row.user_id,
                "currency": row.currency,
                "balance": row.balance,
                "ledger_sum": row.ledger_sum,
                "difference": row.balance - row.ledger_sum,
            }
            for row in report.drift
        ]
        overdue: list[dict[str, Any]] = [
            {
                "reference": charge.reference,
                "created_at": charge.created_at.isoformat(),
                "age_seconds": int((now - charge.created_at).total_seconds()),
                "market": charge.market_id,
            }
            for charge in report.overdue_charges
        ]
        if options["json"]:
            document: dict[str, Any] = {
                "clean": report.clean,
                "drift": drift,
                "overdue_charges": overdue,
                "overdue_after_seconds": int(settings.PAYMENT_CHARGE_OVERDUE_SECONDS),
            }
            self.stdout.write(json.dumps(document, ensure_ascii=False))
        elif report.clean:
            self.stdout.write("wallets: clean (every balance matches its ledger; no charge pending too long)")
        else:
            for row in drift:
                self.stdout.write(
                    "drift: wallet {wallet_id} (member {user_id}, {currency}): balance {balance} vs "
                    "ledger sum {ledger_sum}, difference {difference:+d}".format(**row)
                )
            for charge in overdue:
                self.stdout.write(
                    "overdue: charge {reference} ({market}) pending for {age_seconds} s "
                    "since {created_at}".format(**charge)
                )
            self.stdout.write(
                f"wallets: {len(drift)} wallets drifted, {len(overdue)} charges pending longer than "
                f"{settings.PAYMENT_CHARGE_OVERDUE_SECONDS} s"
            )
        if not report.clean:
            sys.exit(1)
