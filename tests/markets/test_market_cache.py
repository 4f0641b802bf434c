"""Markets are read per request from a per-process copy; an edit clears it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.markets.models import Market
from apps.markets.selectors import market_get
from apps.markets.services import markets_cache_clear

pytestmark = pytest.mark.django_db


def test_repeated_reads_cost_no_query_and_an_edit_shows_after_clear():
    assert market_get("KR").return_window_days == 7
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            market_get("KR")
    assert len(queries) == 0

    Market.objects.filter(code="KR").update(return_window_days=14)
    assert market_get("KR").return_window_days == 7  # still the cached copy
    markets_cache_clear()
    assert market_get("KR").return_window_days == 14


def test_inactive_markets_are_not_offered():
    Market.objects.filter(code="US").update(is_active=False)
    markets_cache_clear()
    with pytest.raises(Exception) as exc:
        market_get("US")
    assert getattr(exc.value, "code", None) == "market.unknown"
