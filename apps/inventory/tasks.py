"""Inventory Celery tasks: thin, idempotent, call services (STYLE.md "Tasks").

Both expiry paths are safe to run twice and together: every reservation changes status by
compare-and-set, and due rows are claimed with SKIP LOCKED on PostgreSQL.
"""

from __future__ import annotations

import structlog
from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from apps.inventory import selectors, services
from apps.inventory.metrics import LOW_STOCK_LEVELS

logger = structlog.get_logger(__name__)

#: Retry only a transient database error (a dropped connection, a lock timeout), with
#: exponential backoff and jitter, at most 5 times; the state guards make a replay harmless.
_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
    "soft_time_limit": 50,
    "time_limit": 60,
}


@shared_task(name="joopang.inventory.reservation_expire", ignore_result=True, acks_late=True, **_RETRY)
def reservation_expire_task(reservation_ids: list[int]) -> int:
    """The countdown of one reserve (due at its ``expires_at``). Reserves no longer queue
    it (beat's sweep below is the expiry: a broker message per hold cost more CPU than the
    rest of a release, and a Redis broker holds every ETA task in a worker's memory until
    due; ADR 0006); kept for countdowns queued before that change and for operators. Rows
    extended, committed or already released are left alone by the service's predicate."""
    expired = services.reservations_expire(reservation_ids=[int(i) for i in reservation_ids])
    if expired:
        logger.info("inventory.reservations_expired", flow="reservation", via="countdown", count=expired)
    return expired


@shared_task(name="joopang.inventory.reservations_expire_sweep", ignore_result=True, acks_late=True, **_RETRY)
def reservations_expire_sweep_task() -> int:
    """Beat, every ``INVENTORY_EXPIRE_SWEEP_SECONDS`` (5 s): expire due reservations in batches until none is left (bounded),
    then publish the overdue and low-stock gauges."""
    batch = int(getattr(settings, "INVENTORY_EXPIRY_BATCH_SIZE", 500))
    total = 0
    for _ in range(20):  # at most 20 batches per run; the next run takes the rest
        expired = services.reservations_expire_due(limit=batch)
        total += expired
        if expired < batch:
            break
    if total:
        logger.info("inventory.reservations_expired", flow="reservation", via="sweep", count=total)
    services.reservations_overdue_observe()
    LOW_STOCK_LEVELS.set(selectors.low_stock_levels().count())
    return total
