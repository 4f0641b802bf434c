"""Coupon signals: Prometheus counters by outcome, rejected claims per campaign and reason
(kept in the cache so the stats page can show them: shared on Redis), and a log event when a
campaign runs out. Label values are bounded (outcome codes, not campaign ids)."""

from __future__ import annotations

import structlog
from django.core.cache import cache
from prometheus_client import Counter

logger = structlog.get_logger("apps.coupons")

CLAIMS = Counter(
    "joopang_coupon_claims_total",
    "Coupon claims by outcome (issued, or the refusal's code) and whether the Redis gate answered.",
    ["outcome", "gate"],
)

REASONS = (
    "coupon.sold_out",
    "coupon.already_claimed",
    "coupon.campaign_inactive",
    "coupon.not_started",
    "coupon.market_mismatch",
)


def rejected_key(campaign_id: int, reason: str) -> str:
    """The cache key counting one refusal reason of a campaign (also counted by the gate's
    Lua script, which increments the same key)."""
    return f"coupons:rejected:{campaign_id}:{reason}"


def claimed(*, campaign_id: int) -> None:
    CLAIMS.labels(outcome="issued", gate="no").inc()


def claim_rejected(*, campaign_id: int, reason: str, gated: bool = False) -> None:
    """Count one refused claim. ``gated``: the gate answered, and its script has already
    counted the refusal in the cache (one round trip instead of three)."""
    outcome = reason if reason in REASONS else "error"
    CLAIMS.labels(outcome=outcome, gate="yes" if gated else "no").inc()
    if gated:
        return
    key = rejected_key(campaign_id, outcome)
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # noqa: BLE001 - a counter never fails a claim
        logger.warning("coupons.rejection_not_counted", campaign_id=campaign_id)


def rejected_counts(campaign_id: int) -> dict[str, int]:
    values = cache.get_many([rejected_key(campaign_id, reason) for reason in (*REASONS, "error")])
    return {key.rsplit(":", 1)[1]: int(value) for key, value in values.items() if value}


def exhausted(*, campaign_id: int) -> None:
    logger.info("coupons.campaign_exhausted", flow="coupon", campaign_id=campaign_id)
