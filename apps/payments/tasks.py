"""Payments Celery tasks: thin, idempotent, call services (STYLE.md "Tasks")."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.payments import services


@shared_task(name="joopang.payments.charges_settle_pending", soft_time_limit=120, time_limit=150)
def charges_settle_pending_task() -> dict[str, int]:
    """Beat, every minute: settle charges whose provider answer was lost (eventual
    consistency). Safe to run twice at once: each settle is compare-and-set per charge."""
    return services.charges_settle_pending()


@shared_task(name="joopang.payments.wallets_reconcile", soft_time_limit=600, time_limit=660)
def wallets_reconcile_task() -> dict[str, Any]:
    """Beat, hourly: balance = ledger sum for every wallet; charges pending too long."""
    report = services.wallets_reconcile()
    return {"drift": len(report.drift), "overdue_charges": len(report.overdue_charges)}
