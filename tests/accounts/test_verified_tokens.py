"""The per-process memo of verified access tokens changes no answer: an expired token is
refused even after it was remembered, and a tampered one is never taken for it."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.accounts.tokens import access_token_for
from tests.payments.factories import MemberFactory


@pytest.mark.django_db
def test_a_remembered_token_is_refused_once_it_expires_and_a_tampered_one_is_not_taken_for_it(monkeypatch):
    user = MemberFactory()
    access = str(access_token_for(user, lifetime_seconds=60))
    client = APIClient()

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/v1/me").status_code == 200
    assert access in tokens._VERIFIED  # remembered
    assert client.get("/api/v1/me").status_code == 200  # and answered from the memo

    # a token that differs in one signature character is verified on its own, and fails
    head, _, sig = access.rpartition(".")
    tampered = f"{head}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    assert client.get("/api/v1/me").status_code == 401
    assert tampered not in tokens._VERIFIED

    # past its expiry (two minutes later, for the memo and for simplejwt) it is refused
    later = time.time() + 120
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    monkeypatch.setattr(
        "rest_framework_simplejwt.tokens.aware_utcnow",
        lambda: dt.datetime.fromtimestamp(later, tz=dt.UTC),
    )
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/v1/me").status_code == 401
    assert access not in tokens._VERIFIED
