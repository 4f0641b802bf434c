"""A page cursor the server did not issue is a 400 ``request.invalid`` on ``cursor``, for
every list on the shared pagination (found by the API fuzzer: DRF answered an undocumented
404, and a forged cursor position a 500)."""

from __future__ import annotations

import base64

import pytest

from apps.accounts.tokens import access_token_for
from apps.markets.models import Market
from tests.accounts.factories import MemberFactory
from tests.payments.factories import funded_wallet


def _forged(position: str) -> str:
    return base64.b64encode(f"p={position}".encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/coupons", "/api/v1/wallet/transactions"])
@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 ~~",  # not base64: DRF's 404
        base64.b64encode(b"o=-1").decode(),  # a negative offset: DRF's 404
        _forged("not-a-number"),  # a position of the wrong type: was a 500
    ],
)
def test_a_bad_cursor_is_a_400_on_the_cursor_field(api_client, path, cursor):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(MemberFactory())}")
    response = api_client.get(path, {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "request.invalid"
    assert [e["field"] for e in body["errors"]] == ["cursor"]


@pytest.mark.django_db
def test_a_cursor_the_server_issued_still_works(api_client):
    member = MemberFactory()
    kr = Market.objects.get(code="KR")
    funded_wallet(member, kr, 1000)
    funded_wallet(member, kr, 2000)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(member)}")
    first = api_client.get("/api/v1/wallet/transactions", {"limit": 1})
    assert first.status_code == 200
    second = api_client.get(first.json()["next"])
    assert second.status_code == 200, second.content
    assert len(second.json()["results"]) == 1
    assert second.json()["results"] != first.json()["results"]
