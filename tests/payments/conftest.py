"""Payments fixtures: the built-in sandbox provider as a real HTTP server per test, the
markets, members, saved methods and funded wallets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.markets.models import Market
from apps.payments.providers import reset_provider
from apps.payments.providers.sandbox import SandboxServer


@pytest.fixture
def sandbox(settings) -> Iterator[SandboxServer]:
    """A sandbox payment provider on a free port; the services talk to it over HTTP with
    short timeouts (read 1 s) and a breaker that opens after 3 failures for 1 s."""
    server = SandboxServer(port=0).start()
    settings.PAYMENT_PROVIDER_URL = server.url
    settings.PAYMENT_PROVIDER_CONNECT_TIMEOUT = 1.0
    settings.PAYMENT_PROVIDER_READ_TIMEOUT = 1.0
    settings.PAYMENT_PROVIDER_RETRY_ATTEMPTS = 3
    settings.PAYMENT_PROVIDER_RETRY_BASE_SECONDS = 0.01
    settings.PAYMENT_PROVIDER_RETRY_MAX_SECONDS = 0.05
    settings.PAYMENT_BREAKER_FAIL_MAX = 3
    settings.PAYMENT_BREAKER_RESET_SECONDS = 1
    reset_provider()
    yield server
    reset_provider()
    server.stop()


@pytest.fixture
def kr(db) -> Market:
    return Market.objects.get(code="KR")


@pytest.fixture
def us(db) -> Market:
    return Market.objects.get(code="US")
