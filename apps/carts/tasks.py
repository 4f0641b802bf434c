"""Cart Celery tasks: thin, idempotent, call services (STYLE.md "Tasks")."""

from __future__ import annotations

import structlog
from celery import shared_task
from django.db import OperationalError

from apps.carts import services

logger = structlog.get_logger(__name__)


@shared_task(
    name="joopang.carts.carts_prune",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=110,
    time_limit=120,
)
def carts_prune_task() -> int:
    """Beat, hourly: delete expired guest carts (already invisible: reads filter on
    ``expires_at``). Running twice deletes nothing more."""
    deleted = services.carts_prune()
    if deleted:
        logger.info("carts.pruned", count=deleted)
    return deleted
