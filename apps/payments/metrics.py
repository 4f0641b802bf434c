"""Wallet signals for operators: Prometheus series and their structlog events.

Provider calls and the circuit breaker have their own series (``providers/metrics.py``).
Label values are bounded (kinds, currencies, statuses, outcome names).
"""

from __future__ import annotations

import structlog
from prometheus_client import Counter, Gauge

logger = structlog.get_logger("apps.payments")

ENTRIES = Counter(
    "joopang_wallet_entries_total", "Ledger entries posted, by kind and currency.", ["kind", "currency"]
)
MOVED = Counter(
    "joopang_wallet_moved_minor_total",
    "Minor units moved through wallets, by direction (credit, debit) and currency.",
    ["direction", "currency"],
)
DEBITS_REFUSED = Counter(
    "joopang_wallet_debits_refused_total", "Debits refused for want of balance, by kind.", ["kind"]
)
TOP_UPS = Counter(
    "joopang_wallet_top_ups_total",
    "Top-up attempts by outcome (succeeded, failed, pending, unavailable, limit).",
    ["outcome"],
)
CHARGES_SETTLED = Counter(
    "joopang_payment_charges_settled_total", "Charges settled, by final status.", ["status"]
)
CARD_DATA_REFUSED = Counter(
    "joopang_payment_card_data_refused_total", "Inputs refused because they looked like card or account data."
)
DRIFT_WALLETS = Gauge(
    "joopang_wallet_drift_wallets",
    "Wallets whose balance differs from their ledger sum (set by reconciliation; must be 0).",
    multiprocess_mode="mostrecent",
)
OVERDUE_CHARGES = Gauge(
    "joopang_payment_charges_overdue",
    "Charges pending longer than PAYMENT_CHARGE_OVERDUE_SECONDS (reconciliation and each scrape).",
    multiprocess_mode="mostrecent",
)


def entry_posted(*, kind: str, currency: str, amount: int) -> None:
    ENTRIES.labels(kind=kind, currency=currency).inc()
    MOVED.labels(direction="credit" if amount > 0 else "debit", currency=currency).inc(abs(amount))


def debit_refused(*, wallet_id: int, kind: str, amount: int, balance: int) -> None:
    DEBITS_REFUSED.labels(kind=kind).inc()
    logger.info(
        "payments.debit_refused",
        flow="payment",
        wallet_id=wallet_id,
        kind=kind,
        amount=amount,
        balance=balance,
    )


def adjusted(*, actor_id: int, wallet_id: int, amount: int, market: str) -> None:
    logger.info(
        "payments.wallet_adjusted",
        flow="payment",
        actor_id=actor_id,
        wallet_id=wallet_id,
        amount=amount,
        market=market,
    )


def card_data_refused() -> None:
    CARD_DATA_REFUSED.inc()
    # The value is never logged: only that a refusal happened.
    logger.warning("payments.card_data_refused", flow="payment")


def top_up_outcome(outcome: str) -> None:
    TOP_UPS.labels(outcome=outcome).inc()


def charge_settled(*, status: str, failure_code: str) -> None:
    CHARGES_SETTLED.labels(status=status).inc()


def reconciled(*, drift: int, overdue: int) -> None:
    DRIFT_WALLETS.set(drift)
    OVERDUE_CHARGES.set(overdue)


def gauges_refresh() -> None:
    """``METRICS_REFRESH_HOOKS``: the overdue-charge gauge is fresh at every scrape (one
    indexed count); the drift gauge is left to reconciliation (a full ledger scan)."""
    from apps.core import clock
    from apps.payments.selectors import charges_overdue_count

    OVERDUE_CHARGES.set(charges_overdue_count(now=clock.now()))
