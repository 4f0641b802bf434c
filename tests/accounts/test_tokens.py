"""POST /api/v1/auth/token: password, refresh rotation, client credentials, JWT checks."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pytest
from django.conf import settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.accounts.factories import PASSWORD, MemberFactory, system_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/token"


def password_grant(api_client, email="minji@example.test", password=PASSWORD, fmt="json"):
    return api_client.post(
        URL, {"grant_type": "password", "username": email, "password": password}, format=fmt
    )


def decode(token: str) -> dict:
    return jwt.decode(token, settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"], issuer="joopang")


def test_password_grant_issues_pair_with_profile_claims(api_client, member):
    response = password_grant(api_client, email="MINJI@example.test")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "member"
    claims = decode(body["access_token"])
    assert claims["user_id"] == member.pk
    assert claims["roles"] == ["member"]
    assert (claims["market"], claims["locale"]) == ("KR", "ko")
    assert claims["exp"] - claims["iat"] == 300
    assert "no-store" in response["Cache-Control"]


def test_password_grant_accepts_form_body(api_client, member):
    response_form = api_client.post(
        URL,
        f"grant_type=password&username=minji%40example.test&password={PASSWORD}",
        content_type="application/x-www-form-urlencoded",
    )

    assert response_form.status_code == 200
    assert "refresh_token" in response_form.json()


def test_wrong_password_is_invalid_grant(api_client, member):
    response = password_grant(api_client, password="nope")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"]


def test_unknown_grant_type_and_missing_fields(api_client):
    unsupported = api_client.post(URL, {"grant_type": "authorization_code"}, format="json")
    missing = api_client.post(URL, {}, format="json")
    missing_password = api_client.post(URL, {"grant_type": "password", "username": "x"}, format="json")

    assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    assert (missing_password.status_code, missing_password.json()["error"]) == (400, "invalid_request")


@pytest.mark.parametrize("body", ["[]", '["grant_type", "password"]', '"password"', "42"])
def test_json_body_that_is_not_an_object_is_invalid_request(api_client, body):
    response = api_client.post(URL, data=body, content_type="application/json")

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_access_token_authenticates_api(api_client, member):
    access = password_grant(api_client).json()["access_token"]

    response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}")

    assert response.status_code == 200
    assert response.json()["email"] == "minji@example.test"


def test_expired_access_token_refused(api_client, member, settings):
    from apps.accounts import tokens

    token = tokens.access_token_for(member)
    token.set_exp(from_time=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), lifetime=dt.timedelta(seconds=1))

    response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert response.json()["code"] == "auth.authentication_failed"


def test_tampered_access_token_refused(api_client, member):
    other = MemberFactory(email="other@example.test")
    access = password_grant(api_client).json()["access_token"]
    header, _payload, signature = access.split(".")
    claims = decode(access)
    claims["user_id"] = other.pk
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_payload}.{signature}"
    wrong_key = jwt.encode(claims, "not-the-key-not-the-key-not-the-key-0123", algorithm="HS256")
    none_alg = jwt.encode(claims, None, algorithm="none")

    for token in (forged, wrong_key, none_alg):
        response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401, token
        assert response.json()["code"] == "auth.authentication_failed"


def test_refresh_token_cannot_be_used_as_access_token(api_client, member):
    refresh = password_grant(api_client).json()["refresh_token"]

    response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {refresh}")

    assert response.status_code == 401


def test_refresh_rotation_and_reuse_refused(api_client, member):
    first = password_grant(api_client).json()

    rotated = api_client.post(
        URL, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, format="json"
    )
    reused = api_client.post(
        URL, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, format="json"
    )

    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert decode(second["access_token"])["user_id"] == member.pk
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    # The replay revoked the whole family: the newer token no longer works either.
    again = api_client.post(
        URL, {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}, format="json"
    )
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert BlacklistedToken.objects.count() == 2


def test_refresh_picks_up_profile_changes(api_client, member):
    first = password_grant(api_client).json()
    member.locale, member.market_id = "en", "US"
    member.save()

    rotated = api_client.post(
        URL, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, format="json"
    )

    claims = decode(rotated.json()["access_token"])
    assert (claims["locale"], claims["market"]) == ("en", "US")


def test_revoked_refresh_refused_after_account_deletion(api_client, member):
    pair = password_grant(api_client).json()
    api_client.delete("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")

    response = api_client.post(
        URL, {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}, format="json"
    )

    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_garbage_refresh_token_is_invalid_grant(api_client):
    response = api_client.post(
        URL, {"grant_type": "refresh_token", "refresh_token": "abc.def.ghi"}, format="json"
    )

    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_client_credentials_in_body_and_basic(api_client):
    client, secret = system_client()

    body = api_client.post(
        URL,
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret},
        format="json",
    )
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    header = api_client.post(
        URL, {"grant_type": "client_credentials"}, format="json", HTTP_AUTHORIZATION=f"Basic {basic}"
    )

    for response in (body, header):
        assert response.status_code == 200, response.json()
        data = response.json()
        assert "refresh_token" not in data
        assert data["scope"] == "data_platform"
        assert data["expires_in"] == 900
        claims = decode(data["access_token"])
        assert claims["client_id"] == client.client_id
        assert claims["roles"] == ["data_platform"]
        assert claims["user_id"] == client.user_id
    client.refresh_from_db()
    assert client.last_used_at is not None
    assert client.secret_hash != secret


def test_client_credentials_wrong_secret_or_unknown_client(api_client):
    client, _secret = system_client()

    wrong = api_client.post(
        URL,
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": "guess"},
        format="json",
    )
    unknown = api_client.post(
        URL,
        {"grant_type": "client_credentials", "client_id": "jpc_nope", "client_secret": "guess"},
        format="json",
    )

    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response["WWW-Authenticate"].startswith("Basic")


def test_inactive_client_refused(api_client):
    from apps.accounts import services

    client, secret = system_client()
    services.system_client_update(actor=None, client=client, role="data_platform", is_active=False)

    response = api_client.post(
        URL,
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret},
        format="json",
    )

    assert response.status_code == 401


def test_system_client_cannot_use_member_endpoints(api_client):
    client, secret = system_client()
    access = api_client.post(
        URL,
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret},
        format="json",
    ).json()["access_token"]

    response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}")

    assert response.status_code == 403
    assert response.json()["code"] == "auth.permission_denied"


def test_service_user_cannot_password_login(api_client):
    client, _ = system_client()

    response = password_grant(api_client, email=client.user.email, password="")

    assert response.status_code == 400


def test_token_claims_middleware_reads_profile_without_queries(member, django_assert_num_queries):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.accounts import tokens
    from apps.accounts.middleware import TokenClaimsMiddleware

    member.locale, member.market_id = "en", "US"
    member.save()
    good = RequestFactory().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(member)}")
    bad = RequestFactory().get("/api/v1/me", HTTP_AUTHORIZATION="Bearer not-a-jwt")
    middleware = TokenClaimsMiddleware(lambda request: HttpResponse())

    with django_assert_num_queries(0):
        middleware(good)
        middleware(bad)

    assert good.token_claims == {"locale": "en", "market": "US"}
    assert not hasattr(bad, "token_claims")
