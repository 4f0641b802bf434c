"""Reconciliation (issue 19 item 6): prove the ledger invariant and find stuck charges.

Read-only: it reports, it never repairs. A wallet whose balance differs from the sum of
its ledger means a bug or a hand edit; ops investigate with the ledger, and fix through an
adjustment, which the ledger then records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog

from apps.core import clock
from apps.payments import metrics, selectors

logger = structlog.get_logger("apps.payments")


@dataclass(frozen=True)
class ReconcileReport:
    drift: list[selectors.WalletDrift]
    overdue_charges: list[selectors.OverdueCharge]

    @property
    def clean(self) -> bool:
        return not self.drift and not self.overdue_charges


def wallets_reconcile(*, now: dt.datetime | None = None) -> ReconcileReport:
    """Check every wallet's balance against its ledger sum, and list charges pending too
    long; sets the gauges and logs one event per finding. Locks: none (a read)."""
    now = now or clock.now()
    drift = selectors.wallet_drift()
    overdue = selectors.charges_overdue(now=now)
    for row in drift:
        logger.error(
            "payments.wallet_drift",
            flow="payment",
            wallet_id=row.wallet_id,
            user_id=row.user_id,
            currency=row.currency,
            balance=row.balance,
            ledger_sum=row.ledger_sum,
        )
    for charge in overdue:
        logger.warning(
            "payments.charge_overdue",
            flow="payment",
            charge=str(charge.reference),
            created_at=charge.created_at.isoformat(),
            market=charge.market_id,
        )
    metrics.reconciled(drift=len(drift), overdue=len(overdue))
    return ReconcileReport(drift, overdue)
