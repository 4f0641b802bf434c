"""RBAC expectations for the data platform's API (issue 22): the pull feed is the data
platform's alone (staff read events in the back office); redelivery and the stats are the
data platform's and operations'. The outbox and delivery-attempt pages are operations'
only (the data platform has no back office). Format: see tests/accounts/test_rbac.py;
tests/integrations/test_api_rbac.py checks the data platform's token on every other route."""

from __future__ import annotations

from tests.accounts.rbac_table import OPS, allow

PLATFORM = allow("data_platform")
PLATFORM_AND_OPS = allow("data_platform", "ops_admin")

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    ("GET", "/api/v1/integrations/events"): PLATFORM,
    ("POST", "/api/v1/integrations/redeliveries"): PLATFORM_AND_OPS,
    ("GET", "/api/v1/integrations/outbox/stats"): PLATFORM_AND_OPS,
}

ADMIN_MODELS: dict[str, dict[str, bool]] = {
    "core.outboxevent": OPS,
    "integrations.deliveryattempt": OPS,
}
