"""POST /api/v1/auth/token (issue 16): refresh-token families, client credentials given
twice, and malformed bodies answered in the OAuth error format (RFC 6749 §5.2)."""

from __future__ import annotations

import base64

import pytest
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.accounts import tokens
from tests.accounts.factories import PASSWORD, system_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/token"


def sign_in(api_client, email="minji@example.test"):
    response = api_client.post(
        URL, {"grant_type": "password", "username": email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh(api_client, raw):
    return api_client.post(URL, {"grant_type": "refresh_token", "refresh_token": raw}, format="json")


def assert_oauth_error(response, error, status=400):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert "type" not in body  # not problem+json
    return body


# --- Refresh-token families ---------------------------------------------------------------


def test_replaying_a_rotated_refresh_token_revokes_the_whole_family(api_client, member):
    # given: a sign-in, rotated twice (r1 -> r2 -> r3)
    r1 = sign_in(api_client)["refresh_token"]
    r2 = refresh(api_client, r1).json()["refresh_token"]
    r3 = refresh(api_client, r2).json()["refresh_token"]
    family = tokens.token_family(r1)
    assert family and tokens.token_family(r2) == tokens.token_family(r3) == family

    # when: the old r1 is presented again (a thief's copy)
    replay = refresh(api_client, r1)

    # then: refused, and the newest token of the chain is dead too
    assert_oauth_error(replay, "invalid_grant")
    assert_oauth_error(refresh(api_client, r3), "invalid_grant")
    assert not OutstandingToken.objects.filter(user=member, blacklistedtoken__isnull=True).exists()


def test_replay_revokes_only_its_own_family(api_client, member):
    # given: two sign-ins (two devices), the first one rotated
    phone = sign_in(api_client)["refresh_token"]
    laptop = sign_in(api_client)["refresh_token"]
    phone_rotated = refresh(api_client, phone).json()["refresh_token"]

    # when: the phone's first token is replayed
    assert_oauth_error(refresh(api_client, phone), "invalid_grant")

    # then: the phone's family is dead, the laptop's sign-in still rotates
    assert_oauth_error(refresh(api_client, phone_rotated), "invalid_grant")
    assert refresh(api_client, laptop).status_code == 200


def test_replaying_the_newest_token_after_its_rotation_also_revokes(api_client, member):
    r1 = sign_in(api_client)["refresh_token"]
    r2 = refresh(api_client, r1).json()["refresh_token"]
    r3 = refresh(api_client, r2).json()["refresh_token"]

    assert_oauth_error(refresh(api_client, r2), "invalid_grant")

    assert_oauth_error(refresh(api_client, r3), "invalid_grant")


def test_forged_or_garbage_refresh_token_revokes_nothing(api_client, member):
    r1 = sign_in(api_client)["refresh_token"]
    head, payload, signature = r1.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"

    assert_oauth_error(refresh(api_client, forged), "invalid_grant")
    assert_oauth_error(refresh(api_client, "not-a-jwt"), "invalid_grant")

    assert BlacklistedToken.objects.count() == 0
    assert refresh(api_client, r1).status_code == 200


def test_legacy_refresh_token_without_family_revokes_all_on_replay(api_client, member):
    # given: a refresh token issued before families existed (no "fam" claim)
    legacy = tokens.RefreshToken.for_user(member)
    other = sign_in(api_client)["refresh_token"]
    rotated = refresh(api_client, str(legacy))
    assert rotated.status_code == 200

    # when: it is replayed
    assert_oauth_error(refresh(api_client, str(legacy)), "invalid_grant")

    # then: with no family to go by, every outstanding refresh token of the user is revoked
    assert_oauth_error(refresh(api_client, rotated.json()["refresh_token"]), "invalid_grant")
    assert_oauth_error(refresh(api_client, other), "invalid_grant")


# --- Client credentials given twice -------------------------------------------------------


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize(
    "body_extra",
    [{"client_id": "SAME"}, {"client_secret": "SAME"}, {"client_id": "SAME", "client_secret": "SAME"}],
)
def test_client_credentials_in_basic_header_and_body_are_refused(api_client, body_extra):
    client, secret = system_client()
    body = {"grant_type": "client_credentials"}
    for key in body_extra:
        body[key] = client.client_id if key == "client_id" else secret

    response = api_client.post(URL, body, format="json", HTTP_AUTHORIZATION=_basic(client.client_id, secret))

    assert_oauth_error(response, "invalid_request")
    # the same credentials, once, work
    assert (
        api_client.post(
            URL,
            {"grant_type": "client_credentials"},
            format="json",
            HTTP_AUTHORIZATION=_basic(client.client_id, secret),
        ).status_code
        == 200
    )


def test_undecodable_basic_header_is_invalid_client(api_client):
    response = api_client.post(
        URL, {"grant_type": "client_credentials"}, format="json", HTTP_AUTHORIZATION="Basic %%%not-base64"
    )

    assert_oauth_error(response, "invalid_client", status=401)
    assert response["WWW-Authenticate"] == 'Basic realm="api"'


# --- Malformed bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", b'{"grant_type": "password", '),
        ("application/json", b"\xff\xfe not utf-8"),
        ("application/json", b"[" * 5000 + b"]" * 5000),
        ("application/json", b'["grant_type", "password"]'),
        ("application/json", b'"password"'),
        ("application/json", b'{"grant_type": ["password"]}'),
        ("application/json", b'{"grant_type": "password", "username": {"$ne": 1}, "password": "x"}'),
        ("application/json", b'{"grant_type": "password", "username": "a@b.test", "password": 12345}'),
        ("application/x-www-form-urlencoded", b"grant_type=password&grant_type=refresh_token"),
        ("application/json", b'{"grant_type": "password", "username": "a\\u0000b", "password": "x"}'),
        ("text/plain", b"grant_type=password"),
        ("application/xml", b"<grant_type>password</grant_type>"),
    ],
    ids=[
        "truncated-json",
        "not-utf8",
        "deeply-nested",
        "json-array",
        "json-string",
        "list-value",
        "object-value",
        "number-value",
        "parameter-twice",
        "nul-byte",
        "text-plain",
        "xml",
    ],
)
def test_malformed_bodies_are_oauth_invalid_request(api_client, content_type, body):
    response = api_client.generic("POST", URL, body, content_type=content_type)

    assert_oauth_error(response, "invalid_request")


def test_overlong_parameter_is_invalid_request(api_client):
    response = api_client.post(
        URL, {"grant_type": "password", "username": "a" * 5000, "password": "x"}, format="json"
    )

    assert_oauth_error(response, "invalid_request")


def test_empty_parameters_count_as_omitted(api_client):
    response = api_client.post(URL, {"grant_type": "password", "username": "", "password": ""}, format="json")

    body = assert_oauth_error(response, "invalid_request")
    assert "username" in body["error_description"]
