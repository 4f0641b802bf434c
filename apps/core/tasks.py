"""Core Celery tasks: thin, idempotent, call services."""

from __future__ import annotations

import structlog
from celery import shared_task

from apps.core.idempotency import idempotency_keys_purge

logger = structlog.get_logger(__name__)


@shared_task(name="joopang.core.idempotency_keys_purge", ignore_result=True)
def idempotency_keys_purge_task() -> int:
    deleted = idempotency_keys_purge()
    logger.info("idempotency.keys_purged", deleted=deleted)
    return deleted


@shared_task(name="joopang.core.ping")
def ping_task(echo: str = "pong") -> str:
    """A no-op the operator (and the run-stack test) uses to see a worker execute work."""
    return echo
