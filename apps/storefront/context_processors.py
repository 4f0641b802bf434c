"""Values every storefront page needs: the market, the language and the switchers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.markets.selectors import market_list


def storefront(request: HttpRequest) -> dict[str, Any]:
    market = getattr(request, "market", None)
    return {
        "current_market": market,
        "markets": market_list(),
        "languages": settings.LANGUAGES,
    }
