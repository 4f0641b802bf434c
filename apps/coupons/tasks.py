"""Coupon tasks: thin, idempotent."""

from __future__ import annotations

from celery import shared_task

from apps.coupons import services


@shared_task(name="joopang.coupons.coupons_expire_due", soft_time_limit=120, time_limit=150)
def coupons_expire_due_task() -> int:
    """Beat, every 10 minutes: ready coupons past their date become expired."""
    return services.coupons_expire_due()
