"""Order Celery tasks: thin, idempotent, call services (STYLE.md "Tasks")."""

from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task

from apps.orders import services
from apps.orders.errors import OrderNotFound
from apps.orders.models import OrderRefund

logger = structlog.get_logger("apps.orders")


@shared_task(name="joopang.orders.order_expire", acks_late=True, soft_time_limit=60, time_limit=90)
def order_expire_task(*, order_id: int) -> bool:
    """One order's expiry at its pay-by time. Placement no longer queues it (the sweep
    below cancels every overdue order); kept for countdowns queued before that change and
    for operators. A replay is harmless: the expiry is a compare-and-set on PENDING and a
    due time."""
    try:
        return services.order_expire(order_id=order_id)
    except OrderNotFound:
        logger.info("orders.expire_missing", order_id=order_id)
        return False


@shared_task(name="joopang.orders.orders_expire_due", soft_time_limit=120, time_limit=150)
def orders_expire_due_task() -> int:
    """Beat, every ``ORDERS_EXPIRE_SWEEP_SECONDS`` (5 s): cancel PENDING orders past their
    pay-by time (a partial index on pending orders' ``expires_at`` keeps it one cheap
    query when none is due). Overlapping runs are harmless: each expiry is a
    compare-and-set."""
    return services.orders_expire_due()


@shared_task(name="joopang.orders.order_payments_settle", soft_time_limit=120, time_limit=150)
def order_payments_settle_task() -> dict[str, Any]:
    """Beat, every minute: apply method payments whose charge the provider has settled."""
    return services.order_payments_settle()


@shared_task(name="joopang.orders.order_refund_send", soft_time_limit=60, time_limit=90)
def order_refund_send_task(*, refund_id: int) -> str:
    """Send one provider refund after commit (the beat retry covers a failure)."""
    try:
        return services.order_refund_send(refund_id=refund_id).status
    except OrderRefund.DoesNotExist:
        logger.info("orders.refund_missing", refund_id=refund_id)
        return "missing"


@shared_task(name="joopang.orders.order_refunds_send_pending", soft_time_limit=300, time_limit=330)
def order_refunds_send_pending_task() -> int:
    """Beat, every 5 minutes: retry provider refunds still pending."""
    return services.order_refunds_send_pending()
