"""Races across OS processes on PostgreSQL (and Redis when REDIS_URL is set): one refresh
token, one rotation; the sign-in policy's counters are shared by every process and exact.
Skipped on SQLite-only runs (``require_postgres``); CI's PostgreSQL + Redis run has them."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.throttling import rate_limit_hit
from tests.accounts.factories import PASSWORD, MemberFactory
from tests.utils.processes import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
ADDRESS = "203.0.113.77"


def _refresh(raw: str) -> str:
    try:
        services.token_refresh_grant(refresh_token=raw)
    except services.OAuthError as exc:
        return exc.error
    return "ok"


def _sign_in(surface: str, email: str, password: str) -> int:
    """One sign-in attempt through a real entrance, from ADDRESS; returns the status."""
    if surface == "api":
        return (
            APIClient()
            .post(
                "/api/v1/auth/token",
                {"grant_type": "password", "username": email, "password": password},
                format="json",
                REMOTE_ADDR=ADDRESS,
            )
            .status_code
        )
    if surface == "admin":
        url, data = "/admin/login/?next=/admin/", {"username": email, "password": password, "next": "/admin/"}
    else:
        url, data = "/accounts/login/", {"email": email, "password": password}
    return Client().post(url, data, REMOTE_ADDR=ADDRESS).status_code


def _rate_hit(ident: str) -> bool:
    return rate_limit_hit("login", ident) is None


def test_refresh_token_used_by_six_processes_rotates_once_then_the_family_is_revoked(require_postgres):
    user = MemberFactory(email="race@example.test")
    raw = services.token_password_grant(
        username=user.email, password=PASSWORD, request=_request()
    ).refresh_token

    results = run_concurrently(_refresh, [(raw,)] * 6)

    assert sorted(results) == ["invalid_grant"] * 5 + ["ok"]
    # the five losers were replays: the winner's new token went with the family
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()


def _request():
    from django.test import RequestFactory

    return RequestFactory().post("/api/v1/auth/token", REMOTE_ADDR=ADDRESS)


def test_failures_through_every_entrance_in_many_processes_share_one_exact_count(require_postgres, settings):
    # given: a threshold above the number of racing attempts
    settings.AUTH_LOCKOUT_THRESHOLD = 100
    settings.AUTH_LOGIN_RATE = "1000/minute"
    MemberFactory(email="count@example.test")

    # when: nine processes fail at once, three through each entrance
    args = [(surface, "count@example.test", "wrong") for surface in ("api", "admin", "storefront")] * 3
    statuses = run_concurrently(_sign_in, args)

    # then: one pair, nine failures, none lost
    assert sorted(statuses) == [200] * 3 + [400] * 6  # the admin re-shows its form with 200
    attempts = AccessAttempt.objects.filter(username="count@example.test", ip_address=ADDRESS)
    assert sum(a.failures_since_start for a in attempts) == 9


def test_lock_reached_in_other_processes_holds_at_every_entrance(require_postgres, settings):
    settings.AUTH_LOCKOUT_THRESHOLD = 4
    settings.AUTH_LOGIN_RATE = "1000/minute"
    MemberFactory(email="lock@example.test")

    run_concurrently(
        _sign_in, [(s, "lock@example.test", "wrong") for s in ("api", "admin", "storefront", "api")]
    )
    right = run_concurrently(
        _sign_in, [(s, "lock@example.test", PASSWORD) for s in ("api", "admin", "storefront")]
    )

    assert right == [429, 429, 429]


def test_sliding_window_admits_exactly_the_limit_across_processes(require_postgres, settings):
    # Redis (Lua script) when REDIS_URL is set, the database row lock otherwise.
    settings.AUTH_LOGIN_RATE = "5/minute"

    admitted = run_concurrently(_rate_hit, [("198.51.100.99",)] * 12)

    assert sum(admitted) == 5
