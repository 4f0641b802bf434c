"""Notification tasks: thin, idempotent (the delivery row is claimed per event id)."""

from __future__ import annotations

from celery import shared_task

from apps.notifications import services


@shared_task(name="joopang.notifications.send_due", soft_time_limit=120, time_limit=150)
def notifications_send_due_task() -> dict[str, int]:
    """Beat, every 10 s: mail the members about their new order and top-up events."""
    return services.notifications_send_due()
