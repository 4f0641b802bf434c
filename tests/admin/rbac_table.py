"""RBAC expectations for back-office pages of the apps: the stock ledger and reservations
(issue 17, "Back office": read by inventory managers and ops admins only, written by nobody,
see tests/admin/test_inventory_admin.py) and the wallet pages (issue 19: customer service
and ops only; inventory and marketing see no wallet data; written by nobody, see
tests/admin/test_payments_admin.py) and orders (issue 20: customer service and ops only;
lines, payments, refunds and history are on the order's page, not screens of their own;
written by nobody, see tests/admin/test_orders_admin.py) and coupons (issue 21: campaigns,
coupons and usage history for marketing and ops, read by customer service; inventory sees
none; see tests/admin/test_coupons_admin.py). Format: see tests/accounts/test_rbac.py."""

from __future__ import annotations

from tests.accounts.rbac_table import allow

ADMIN_MODELS: dict[str, dict[str, bool]] = {
    "inventory.stockmovement": allow("inventory_manager", "ops_admin"),
    "inventory.reservation": allow("inventory_manager", "ops_admin"),
    "payments.wallet": allow("cs_agent", "ops_admin"),
    "payments.walletentry": allow("cs_agent", "ops_admin"),
    "payments.paymentmethod": allow("cs_agent", "ops_admin"),
    "payments.charge": allow("cs_agent", "ops_admin"),
    "orders.order": allow("cs_agent", "ops_admin"),
    "coupons.campaign": allow("cs_agent", "marketing_manager", "ops_admin"),
    "coupons.coupon": allow("cs_agent", "marketing_manager", "ops_admin"),
    "coupons.couponuse": allow("cs_agent", "marketing_manager", "ops_admin"),
}
