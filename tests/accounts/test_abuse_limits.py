"""Lockout after repeated failed logins, and cache-backed throttles (429 + Retry-After)."""

from __future__ import annotations

import pytest

from apps.accounts.models import User
from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/token"


def grant(api_client, password, **extra):
    return api_client.post(
        URL,
        {"grant_type": "password", "username": "minji@example.test", "password": password},
        format="json",
        **extra,
    )


def test_lockout_after_threshold_then_correct_password_refused(api_client, member, settings):
    settings.AUTH_LOCKOUT_THRESHOLD = 3
    settings.AUTH_LOCKOUT_MINUTES = 10

    first = [grant(api_client, "wrong").json().get("code") for _ in range(2)]
    third = grant(api_client, "wrong", HTTP_ACCEPT_LANGUAGE="en")
    correct = grant(api_client, PASSWORD, HTTP_ACCEPT_LANGUAGE="ko")

    assert first == ["auth.invalid_credentials", "auth.invalid_credentials"]
    assert third.status_code == 429
    assert third.json()["code"] == "auth.account_locked"
    assert third.json()["error"] == "invalid_grant"
    assert "10 minutes" in third.json()["error_description"]
    assert correct.status_code == 429
    assert correct.json()["code"] == "auth.account_locked"
    assert "분" in correct.json()["error_description"]
    assert int(correct["Retry-After"]) > 500
    member.refresh_from_db()
    assert member.locked_until is not None


def test_success_resets_failure_count(api_client, member, settings):
    settings.AUTH_LOCKOUT_THRESHOLD = 3
    grant(api_client, "wrong")
    grant(api_client, "wrong")

    ok = grant(api_client, PASSWORD)

    assert ok.status_code == 200
    assert User.objects.get(pk=member.pk).failed_login_count == 0
    assert grant(api_client, "wrong").json()["code"] == "auth.invalid_credentials"


def test_storefront_login_lockout_message(client, member, settings):
    settings.AUTH_LOCKOUT_THRESHOLD = 2

    client.post(
        "/accounts/login/", {"email": "minji@example.test", "password": "x"}, HTTP_ACCEPT_LANGUAGE="ko"
    )
    response = client.post(
        "/accounts/login/", {"email": "minji@example.test", "password": "x"}, HTTP_ACCEPT_LANGUAGE="ko"
    )

    assert response.status_code == 429
    assert "로그인" in response.content.decode()


def test_token_endpoint_throttled_with_retry_after(api_client, settings):
    settings.AUTH_TOKEN_RATE = "3/minute"

    codes = [api_client.post(URL, {"grant_type": "nope"}, format="json").status_code for _ in range(4)]
    response = api_client.post(URL, {"grant_type": "nope"}, format="json", HTTP_ACCEPT_LANGUAGE="ko")

    assert codes == [400, 400, 400, 429]
    assert response.status_code == 429
    assert response.json()["code"] == "request.throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_register_throttled_per_ip(api_client, settings):
    settings.AUTH_REGISTER_RATE = "2/hour"
    body = {"email": "x@example.test", "password": "short", "market": "US", "consents": ["terms", "privacy"]}

    statuses = [api_client.post("/api/v1/auth/register", body, format="json").status_code for _ in range(3)]
    other_ip = api_client.post("/api/v1/auth/register", body, format="json", REMOTE_ADDR="10.0.0.9")

    assert statuses == [400, 400, 429]
    assert other_ip.status_code == 400


def test_storefront_login_throttled(client, settings):
    settings.AUTH_LOGIN_RATE = "1/minute"
    client.post("/accounts/login/", {"email": "a@example.test", "password": "x"})

    response = client.post("/accounts/login/", {"email": "a@example.test", "password": "x"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def _hash_computations(monkeypatch) -> list[str]:
    """Record every hash the (test) hasher computes: a check computes one, and Django's
    backend computes one for an unknown user so that both take the same time."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    calls: list[str] = []
    encode = MD5PasswordHasher.encode

    def counting_encode(self, password, salt):
        calls.append(salt)
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting_encode)
    return calls


def test_unknown_email_costs_one_password_hash_like_a_known_one(api_client, member, monkeypatch):
    # given: an email that exists and one that does not
    calls = _hash_computations(monkeypatch)

    # when: both are tried with a wrong password
    known = grant(api_client, "wrong")
    known_calls = len(calls)
    unknown = api_client.post(
        URL,
        {"grant_type": "password", "username": "nobody@example.test", "password": "wrong"},
        format="json",
    )

    # then: same answer, and the unknown email also pays for one hash (no timing oracle)
    assert known.json() == unknown.json()
    assert known.status_code == unknown.status_code == 400
    assert known_calls == 1
    assert len(calls) - known_calls == 1
