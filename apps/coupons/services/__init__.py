"""Coupon use-cases (DESIGN.md §7 "Coupons", ADR 0010).

- ``claims``: first-come claims behind the Redis gate (``gate``), the database deciding.
- ``checkout``: price, hold, use, release and restore a coupon inside the order's transactions.
- ``campaigns``: create, edit, status, revoke, expire.
"""

from apps.coupons.services.campaigns import (
    campaign_clean,
    campaign_create,
    campaign_transition,
    campaign_update,
    coupons_expire_due,
    coupons_revoke,
)
from apps.coupons.services.checkout import (
    PricedLine,
    Pricing,
    coupon_for_update,
    coupon_hold,
    coupon_preview,
    coupon_price,
    coupon_release,
    coupon_restore,
    coupon_use,
    discount_for,
    eligible_amounts,
)
from apps.coupons.services.claims import campaign_rules, campaign_rules_forget, coupon_claim, rejected_counts

__all__ = [
    "PricedLine",
    "Pricing",
    "campaign_clean",
    "campaign_create",
    "campaign_rules",
    "campaign_rules_forget",
    "campaign_transition",
    "campaign_update",
    "coupon_claim",
    "coupon_for_update",
    "coupon_hold",
    "coupon_preview",
    "coupon_price",
    "coupon_release",
    "coupon_restore",
    "coupon_use",
    "coupons_expire_due",
    "coupons_revoke",
    "discount_for",
    "eligible_amounts",
    "rejected_counts",
]
