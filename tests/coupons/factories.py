"""Coupon test data: campaigns made through the services, so they are valid by construction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.accounts.models import User
from apps.core import clock
from apps.coupons import services
from apps.coupons.models import Campaign


def campaign_data(**overrides: Any) -> dict[str, Any]:
    """Valid ``campaign_create`` data: 1,000 won off in KR, running from an hour ago for a week."""
    now = clock.now()
    data: dict[str, Any] = {
        "name_ko": "봄맞이 쿠폰",
        "name_en": "Spring coupon",
        "discount_type": "fixed",
        "discount_value": 1000,
        "markets": ["KR"],
        "starts_at": now - dt.timedelta(hours=1),
        "ends_at": now + dt.timedelta(days=7),
    }
    data.update(overrides)
    return data


def active_campaign(*, actor: User, status: str = "active", **overrides: Any) -> Campaign:
    """A campaign created in draft, then moved to ``status`` (active by default)."""
    campaign = services.campaign_create(data=campaign_data(**overrides), actor=actor)
    if status in ("active", "paused"):
        services.campaign_transition(campaign_id=campaign.pk, to_status="active", actor=actor)
    if status in ("paused", "ended"):
        services.campaign_transition(campaign_id=campaign.pk, to_status=status, actor=actor)
    campaign.refresh_from_db()
    return campaign
