"""Orders fixtures: the markets, the payments sandbox (re-exported), a shipping address."""

from __future__ import annotations

import pytest

from apps.markets.models import Market
from tests.payments.conftest import sandbox  # noqa: F401

KR_ADDRESS = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "line2": "3층",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}
US_ADDRESS = {
    "recipient": "Jane Doe",
    "line1": "350 Fifth Avenue",
    "line2": "Suite 1",
    "city": "New York",
    "region": "NY",
    "postal_code": "10118",
    "country": "US",
}


def address_for(market: Market | str) -> dict[str, str]:
    """A complete shipping address in ``market`` (a fresh copy each call)."""
    code = market if isinstance(market, str) else market.code
    return dict(KR_ADDRESS if code == "KR" else US_ADDRESS)


@pytest.fixture
def kr(db) -> Market:
    return Market.objects.get(code="KR")


@pytest.fixture
def us(db) -> Market:
    return Market.objects.get(code="US")


@pytest.fixture
def kr_address() -> dict[str, str]:
    return address_for("KR")


@pytest.fixture
def us_address() -> dict[str, str]:
    return address_for("US")
