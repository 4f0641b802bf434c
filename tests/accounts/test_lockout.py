"""The sign-in policy (issue 16; the sign-in policy ADR): one lockout and one per-address
limit for every way in — API password grant, storefront login, admin login.

- per (email, client address): AUTH_LOCKOUT_THRESHOLD failures lock that pair, and only
  that pair, for AUTH_LOCKOUT_MINUTES (django-axes, database handler);
- per client address: AUTH_LOGIN_RATE sliding windows over all sign-in attempts;
- unknown and known emails answer identically at every step.
The clock is moved by the ``fake_clock`` fixture (no sleeps).
"""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD, MemberFactory, staff

pytestmark = pytest.mark.django_db

API = "/api/v1/auth/token"
ADMIN = "/admin/login/"
STOREFRONT = "/accounts/login/"
A = "203.0.113.10"  # the attacker's (or the shopper's own) address
B = "198.51.100.20"  # somewhere else
KNOWN = "minji@example.test"
UNKNOWN = "jisoo@example.test"  # same length as KNOWN: even Content-Length must agree


def api_attempt(email, password, addr=A, lang="en"):
    return APIClient().post(
        API,
        {"grant_type": "password", "username": email, "password": password},
        format="json",
        REMOTE_ADDR=addr,
        HTTP_ACCEPT_LANGUAGE=lang,
    )


def admin_attempt(email, password, addr=A, lang="en"):
    return Client().post(
        ADMIN + "?next=/admin/",
        {"username": email, "password": password, "next": "/admin/"},
        REMOTE_ADDR=addr,
        HTTP_ACCEPT_LANGUAGE=lang,
    )


def storefront_attempt(email, password, addr=A, lang="en"):
    return Client().post(
        STOREFRONT, {"email": email, "password": password}, REMOTE_ADDR=addr, HTTP_ACCEPT_LANGUAGE=lang
    )


SURFACES = {"api": api_attempt, "admin": admin_attempt, "storefront": storefront_attempt}
SIGNED_IN = {"api": 200, "admin": 302, "storefront": 302}
WRONG = {"api": 400, "admin": 200, "storefront": 400}

LOCK_EN = "Too many failed sign-in attempts with this email address"
LOCK_KO = "이 이메일 주소로 로그인에 너무 여러 번 실패했습니다"


def signature(response, email: str) -> tuple:
    """Everything a client sees, minus what differs by nature: the request id, the wall
    clock, the CSRF token's per-response mask, CSP nonces, cookie values, and the email
    echoed back into a form."""
    # Expires (set by never-cache headers) is the wall-clock second of the answer.
    headers = {k: v for k, v in response.headers.items() if k.lower() not in {"x-request-id", "expires"}}
    if "Content-Security-Policy" in headers:  # same directives, in no particular order
        policy = re.sub(r"'nonce-[^']+'", "'nonce'", headers["Content-Security-Policy"])
        headers["Content-Security-Policy"] = sorted(policy.split("; "))
    content = response.content.decode()
    content = content.replace(email, "EMAIL")
    content = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", content)
    content = re.sub(r'nonce="[^"]+"', "NONCE", content)  # a per-response CSP nonce, if any
    content = re.sub(r"[0-9a-f]{32}", "REQUEST-ID", content)  # request ids shown on the page
    content = re.sub(r'"request_id": ?"[^"]*"', "", content)
    return response.status_code, headers, sorted(response.cookies), content


@pytest.fixture
def policy(settings):
    settings.AUTH_LOCKOUT_THRESHOLD = 3
    settings.AUTH_LOCKOUT_MINUTES = 15
    settings.AUTH_LOGIN_RATE = "100/minute"
    return settings


@pytest.fixture
def member(db):
    return MemberFactory(email=KNOWN, name="김민지")


# --- One policy for every way in -----------------------------------------------------------


def test_failures_through_the_api_lock_the_admin_and_the_storefront(fake_clock, policy):
    ops = staff("ops_admin", email="ops@staff.test")
    for _ in range(3):
        api_attempt(ops.email, "wrong")

    admin = admin_attempt(ops.email, PASSWORD)
    storefront = storefront_attempt(ops.email, PASSWORD)

    assert admin.status_code == 429
    assert LOCK_EN in admin.content.decode()
    assert 'name="username"' in admin.content.decode()  # the admin's own login page
    assert admin["Retry-After"] == str(15 * 60)
    assert storefront.status_code == 429
    assert LOCK_EN in storefront.content.decode()
    # nobody was signed in
    assert Client().get("/admin/", REMOTE_ADDR=A).status_code == 302


def test_failures_at_the_admin_and_storefront_lock_the_api(fake_clock, policy, member):
    admin_attempt(KNOWN, "wrong")
    admin_attempt(KNOWN, "wrong")
    storefront_attempt(KNOWN, "wrong")

    response = api_attempt(KNOWN, PASSWORD)

    assert response.status_code == 429
    body = response.json()
    assert (body["error"], body["code"]) == ("invalid_grant", "auth.sign_in_locked")
    assert LOCK_EN in body["error_description"]
    assert response["Retry-After"] == str(15 * 60)


@pytest.mark.parametrize("first", ["api", "admin", "storefront"])
@pytest.mark.parametrize("then", ["api", "admin", "storefront"])
def test_every_entrance_counts_towards_one_lock(fake_clock, policy, member, first, then):
    SURFACES[first](KNOWN, "wrong")
    SURFACES[then](KNOWN, "wrong")
    SURFACES[first](KNOWN, "wrong")

    assert SURFACES[then](KNOWN, PASSWORD).status_code == 429
    assert AccessAttempt.objects.get().failures_since_start == 3


def test_admin_lockout_page_is_in_the_browsers_language(fake_clock, policy, member):
    for _ in range(3):
        admin_attempt(KNOWN, "wrong", lang="ko")

    response = admin_attempt(KNOWN, PASSWORD, lang="ko")

    assert response.status_code == 429
    assert LOCK_KO in response.content.decode()


def test_storefront_lockout_is_a_localized_form_error(fake_clock, policy, member):
    for _ in range(3):
        storefront_attempt(KNOWN, "wrong", lang="ko")

    response = storefront_attempt(KNOWN, PASSWORD, lang="ko")

    assert response.status_code == 429
    assert LOCK_KO in response.content.decode()
    assert "15분" in response.content.decode()


# --- Nothing tells which emails exist ------------------------------------------------------


@pytest.mark.parametrize("surface", ["api", "admin", "storefront"])
def test_unknown_and_known_email_answer_identically_at_every_step(fake_clock, policy, member, surface):
    attempt = SURFACES[surface]
    statuses = []
    for _step in range(5):  # 2 failures, the locking failure, 2 attempts while locked
        known = attempt(KNOWN, "wrong")
        unknown = attempt(UNKNOWN, "wrong")
        assert signature(known, KNOWN) == signature(unknown, UNKNOWN)
        statuses.append(known.status_code)

    # a locked known account with the RIGHT password is refused exactly like a wrong one
    right = attempt(KNOWN, PASSWORD)
    wrong = attempt(KNOWN, "wrong")
    unknown = attempt(UNKNOWN, PASSWORD)
    assert signature(right, KNOWN) == signature(wrong, KNOWN) == signature(unknown, UNKNOWN)
    assert statuses == [WRONG[surface]] * 2 + [429] * 3
    assert right.status_code == 429


def test_unknown_email_locks_like_a_known_one(fake_clock, policy):
    for _ in range(3):
        api_attempt(UNKNOWN, "wrong")

    body = api_attempt(UNKNOWN, "wrong").json()

    assert body["code"] == "auth.sign_in_locked"


def test_email_spelling_variants_are_one_pair(fake_clock, policy, member):
    api_attempt("MINJI@example.test", "wrong")
    api_attempt(" minji@EXAMPLE.test ", "wrong")
    api_attempt(KNOWN, "wrong")

    assert api_attempt("Minji@Example.Test", PASSWORD).status_code == 429


# --- An attacker cannot keep a shopper out ------------------------------------------------


def test_failures_from_address_a_do_not_lock_the_shopper_at_address_b(fake_clock, policy, member):
    for _ in range(10):
        api_attempt(KNOWN, "wrong", addr=A)
    assert api_attempt(KNOWN, PASSWORD, addr=A).status_code == 429

    assert api_attempt(KNOWN, PASSWORD, addr=B).status_code == 200
    assert storefront_attempt(KNOWN, PASSWORD, addr=B).status_code == 302


def test_an_ipv6_subscriber_is_one_address(fake_clock, policy, member):
    # one /64 is one subscriber: rotating the interface id does not buy more attempts
    for suffix in ("1", "2", "abcd"):
        api_attempt(KNOWN, "wrong", addr=f"2001:db8:1:2::{suffix}")

    assert api_attempt(KNOWN, PASSWORD, addr="2001:db8:1:2::ffff").status_code == 429
    assert api_attempt(KNOWN, PASSWORD, addr="2001:db8:1:3::1").status_code == 200


def test_per_address_limit_stops_one_address_trying_many_accounts(fake_clock, policy):
    policy.AUTH_LOGIN_RATE = "10/minute"

    statuses = [api_attempt(f"user{i}@example.test", "wrong").status_code for i in range(10)]
    over = api_attempt("user10@example.test", "wrong")

    assert statuses == [400] * 10
    assert over.status_code == 429
    assert over["Content-Type"] == "application/problem+json"
    assert over.json()["code"] == "request.throttled"
    assert over["Retry-After"] == "60"
    # every entrance shares the address's budget
    assert admin_attempt("user11@example.test", "wrong").status_code == 429
    assert storefront_attempt("user12@example.test", "wrong").status_code == 429
    # another address is not affected; the window slides on
    assert api_attempt("user13@example.test", "wrong", addr=B).status_code == 400
    fake_clock.advance(60)
    assert api_attempt("user14@example.test", "wrong").status_code == 400


def test_throttled_attempts_do_not_count_as_failures(fake_clock, policy, member):
    policy.AUTH_LOGIN_RATE = "2/minute"
    api_attempt(KNOWN, "wrong")
    api_attempt(KNOWN, "wrong")
    throttled = [api_attempt(KNOWN, "wrong").status_code for _ in range(5)]

    fake_clock.advance(61)
    response = api_attempt(KNOWN, PASSWORD)

    assert throttled == [429] * 5
    assert response.status_code == 200  # 2 failures < threshold 3: not locked


# --- How a shopper gets back in -----------------------------------------------------------


def test_lock_ends_after_the_cool_off(fake_clock, policy, member):
    for _ in range(3):
        api_attempt(KNOWN, "wrong")

    fake_clock.advance(14 * 60)
    still = api_attempt(KNOWN, PASSWORD)
    fake_clock.advance(61)
    after = api_attempt(KNOWN, PASSWORD)

    assert still.status_code == 429
    assert still["Retry-After"] == "60"
    assert after.status_code == 200


def test_attempts_while_locked_do_not_extend_the_lock(fake_clock, policy, member):
    for _ in range(3):
        api_attempt(KNOWN, "wrong")
    for _ in range(10):
        fake_clock.advance(60)
        api_attempt(KNOWN, "wrong")

    fake_clock.advance(5 * 60 + 1)  # 15 minutes after the locking failure

    assert api_attempt(KNOWN, PASSWORD).status_code == 200


def test_success_clears_the_pairs_failures(fake_clock, policy, member):
    api_attempt(KNOWN, "wrong")
    api_attempt(KNOWN, "wrong")
    assert storefront_attempt(KNOWN, PASSWORD).status_code == 302

    api_attempt(KNOWN, "wrong")
    api_attempt(KNOWN, "wrong")

    assert api_attempt(KNOWN, PASSWORD).status_code == 200


def test_failures_older_than_the_cool_off_are_forgotten(fake_clock, policy, member):
    api_attempt(KNOWN, "wrong")
    api_attempt(KNOWN, "wrong")
    fake_clock.advance(15 * 60 + 1)

    api_attempt(KNOWN, "wrong")

    assert api_attempt(KNOWN, PASSWORD).status_code == 200


def test_attempt_log_keeps_no_password(fake_clock, policy, member):
    storefront_attempt(KNOWN, "hunter2-secret")
    api_attempt(KNOWN, "hunter2-secret")

    attempt = AccessAttempt.objects.get()
    assert "hunter2-secret" not in attempt.post_data + attempt.get_data
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == (KNOWN, A, 2)
