"""Analytics fixtures: a clock the test sets, and the scenario built with it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from apps.core import clock
from tests.analytics.factories import Scenario, build_scenario
from tests.orders.conftest import kr, us  # noqa: F401
from tests.payments.conftest import sandbox  # noqa: F401


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """``at(instant)``: from then on ``clock.now()`` answers ``instant``."""
    now = {"t": clock.now()}
    monkeypatch.setattr(clock, "now", lambda: now["t"])

    def move(instant: dt.datetime) -> None:
        now["t"] = instant

    return move


@pytest.fixture
def scenario(db, at) -> Scenario:  # type: ignore[no-untyped-def]
    return build_scenario(at)
