"""Races across OS processes on PostgreSQL: one refresh token, one rotation; failed
logins counted exactly."""

from __future__ import annotations

import pytest

from apps.accounts import services
from apps.accounts.models import User
from tests.accounts.factories import MemberFactory
from tests.utils.processes import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def _refresh(raw: str) -> str:
    try:
        services.token_refresh_grant(refresh_token=raw)
    except services.OAuthError as exc:
        return exc.error
    return "ok"


def _fail_login(email: str) -> str:
    try:
        services.login_authenticate(email=email, password="wrong")
    except Exception as exc:  # noqa: BLE001 - the code is the result
        return getattr(exc, "code", type(exc).__name__)
    return "ok"


def test_refresh_token_used_by_six_processes_rotates_once(require_postgres):
    user = MemberFactory(email="race@example.test")
    raw = services.token_password_grant(username=user.email, password="Correct-Horse-42").refresh_token

    results = run_concurrently(_refresh, [(raw,)] * 6)

    assert sorted(results) == ["invalid_grant"] * 5 + ["ok"]


def test_failed_logins_from_many_processes_counted_exactly(require_postgres, settings):
    settings.AUTH_LOCKOUT_THRESHOLD = 100
    MemberFactory(email="count@example.test")

    results = run_concurrently(_fail_login, [("count@example.test",)] * 8)

    assert results == ["auth.invalid_credentials"] * 8
    assert User.objects.get(email="count@example.test").failed_login_count == 8
