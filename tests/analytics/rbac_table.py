"""RBAC expectations for the reports (issue 23, API.md "Reports"): daily sales for ops
admins; coupon usage for ops admins and marketing managers; the aggregates' back-office
lists likewise (read-only, see tests/analytics/test_admin.py). Format: see
tests/accounts/test_rbac.py."""

from __future__ import annotations

from tests.accounts.rbac_table import allow

OPS = allow("ops_admin")
COUPON_READERS = allow("marketing_manager", "ops_admin")

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    ("GET", "/api/v1/reports/daily-sales"): OPS,
    ("GET", "/api/v1/reports/coupon-usage"): COUPON_READERS,
}

ADMIN_MODELS: dict[str, dict[str, bool]] = {
    "analytics.dailysales": OPS,
    "analytics.couponusagedaily": COUPON_READERS,
}
