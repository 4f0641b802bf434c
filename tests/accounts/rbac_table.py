"""RBAC expectations for accounts' API routes and the admin models accounts speaks for
(its own, auth, markets, the JWT blacklist, Celery beat/results). Format: see
tests/accounts/test_rbac.py."""

from __future__ import annotations

ROLES = (
    "guest",
    "member",
    "cs_agent",
    "inventory_manager",
    "marketing_manager",
    "ops_admin",
    "data_platform",
)


def allow(*roles: str) -> dict[str, bool]:
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown
    return {role: role in roles for role in ROLES}


EVERYONE = allow(*ROLES)
#: Open to guests and people; a system client's token opens only the views made for system
#: clients (apps.accounts.authentication, issue 22), so the data platform is refused here.
PUBLIC = allow("guest", "member", "cs_agent", "inventory_manager", "marketing_manager", "ops_admin")
PEOPLE = allow("member", "cs_agent", "inventory_manager", "marketing_manager", "ops_admin")
OPS = allow("ops_admin")
NOBODY = allow()

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    # Both read no credentials (authentication_classes = []): a token, the data platform's
    # too, is ignored and the caller treated as a guest.
    ("POST", "/api/v1/auth/register"): EVERYONE,
    ("POST", "/api/v1/auth/token"): EVERYONE,
    ("GET", "/api/v1/me"): PEOPLE,
    ("PATCH", "/api/v1/me"): PEOPLE,
    ("DELETE", "/api/v1/me"): PEOPLE,
    ("GET", "/api/v1/me/export"): PEOPLE,
}

ADMIN_MODELS: dict[str, dict[str, bool]] = {
    "accounts.user": allow("cs_agent", "ops_admin"),  # CS reads customers, ops manage them
    "accounts.consent": allow("cs_agent", "ops_admin"),
    "accounts.rolechange": OPS,
    "accounts.systemclient": OPS,
    "auth.group": OPS,
    "markets.market": allow("cs_agent", "inventory_manager", "marketing_manager", "ops_admin"),
    "markets.fxrate": OPS,
    "token_blacklist.outstandingtoken": OPS,
    "token_blacklist.blacklistedtoken": OPS,
    "django_celery_beat.periodictask": OPS,
    "django_celery_beat.intervalschedule": OPS,
    "django_celery_beat.crontabschedule": OPS,
    "django_celery_beat.clockedschedule": OPS,
    "django_celery_beat.solarschedule": OPS,
    "django_celery_results.taskresult": OPS,
    "django_celery_results.groupresult": OPS,
}
