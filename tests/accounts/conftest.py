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
