from __future__ import annotations

import pytest

from apps.markets.models import Market


@pytest.fixture
def kr(db) -> Market:
    return Market.objects.get(code="KR")


@pytest.fixture
def us(db) -> Market:
    return Market.objects.get(code="US")
