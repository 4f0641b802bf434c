from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.accounts.models import User


def bearer(client: APIClient, user: User) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(user)}")
    return client


@pytest.fixture
def member(db):
    from tests.accounts.factories import MemberFactory

    return MemberFactory(email="minji@example.test", name="김민지")


class FakeClock:
    """A controllable "now" for the sign-in policy: apps.core.clock, Django's timezone.now
    (model defaults, ``auto_now_add``) and axes' own imports all read it."""

    def __init__(self) -> None:
        self.now = _real_now().replace(microsecond=0)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        import datetime as dt

        self.now += dt.timedelta(seconds=seconds)


def _real_now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr("django.utils.timezone.now", clock)
    monkeypatch.setattr("axes.handlers.proxy.now", clock)
    monkeypatch.setattr("axes.attempts.now", clock)
    return clock
