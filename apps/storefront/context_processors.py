"""Values every storefront page needs: the market, the language, the switchers and the
header's mini-cart count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.carts import selectors as cart_selectors
from apps.carts.web import COOKIE_NAME
from apps.markets.selectors import market_list


def _cart_count(request: HttpRequest) -> Callable[[], int]:
    """The units in the request's cart, read when a template first asks (then kept).

    No query for a guest without the cart cookie (mere browsing has no cart); a page that
    already read the cart (the cart page) leaves ``request.cart_count``."""
    memo: list[int] = []

    def count() -> int:
        if not memo:
            known = getattr(request, "cart_count", None)
            memo.append(known if isinstance(known, int) else _read(request))
        return memo[0]

    return count


def _read(request: HttpRequest) -> int:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if getattr(user, "is_service_account", False):
            return 0
        return cart_selectors.cart_count(cart=cart_selectors.member_cart_get(user_id=user.pk))
    token = (request.COOKIES.get(COOKIE_NAME) or "").strip()
    if not token:
        return 0
    return cart_selectors.cart_count(cart=cart_selectors.guest_cart_get(token=token))


def storefront(request: HttpRequest) -> dict[str, Any]:
    market = getattr(request, "market", None)
    return {
        "current_market": market,
        "markets": market_list(),
        "languages": settings.LANGUAGES,
        "cart_count": _cart_count(request),
    }
