"""RBAC expectations for the coupons API (issue 21): the coupon zone is open to every
caller; claiming and my coupons are the member's own (guests 401; staff accounts and system
clients 403); the back office's campaigns are read with ``coupons.view_campaign``
(marketing, ops, customer service) and written or revoked by marketing and ops only.
Inventory and the data platform get nothing. Format: see tests/accounts/test_rbac.py."""

from __future__ import annotations

from tests.accounts.rbac_table import PUBLIC, allow

MEMBERS = allow("member")
CAMPAIGN_READERS = allow("cs_agent", "marketing_manager", "ops_admin")
CAMPAIGN_MANAGERS = allow("marketing_manager", "ops_admin")

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    ("GET", "/api/v1/coupons/campaigns"): PUBLIC,
    ("POST", "/api/v1/coupons/campaigns/<int:id>/claim"): MEMBERS,
    ("GET", "/api/v1/coupons"): MEMBERS,
    ("GET", "/api/v1/admin/coupon-campaigns"): CAMPAIGN_READERS,
    ("POST", "/api/v1/admin/coupon-campaigns"): CAMPAIGN_MANAGERS,
    ("GET", "/api/v1/admin/coupon-campaigns/<int:id>"): CAMPAIGN_READERS,
    ("PUT", "/api/v1/admin/coupon-campaigns/<int:id>"): CAMPAIGN_MANAGERS,
    ("PATCH", "/api/v1/admin/coupon-campaigns/<int:id>"): CAMPAIGN_MANAGERS,
    ("GET", "/api/v1/admin/coupon-campaigns/<int:id>/stats"): CAMPAIGN_READERS,
    ("POST", "/api/v1/admin/coupon-campaigns/<int:id>/revoke"): CAMPAIGN_MANAGERS,
}
