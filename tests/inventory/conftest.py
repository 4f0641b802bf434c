from __future__ import annotations

import datetime as dt

import pytest

from apps.markets.models import Market


class FakeClock:
    """``apps.core.clock.now`` under the test's control (no sleeps)."""

    def __init__(self) -> None:
        self.current = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> dt.datetime:
        self.current += dt.timedelta(**delta)
        return self.current


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr("apps.core.clock.now", fake)
    return fake


@pytest.fixture
def kr(db) -> Market:
    return Market.objects.get(code="KR")
