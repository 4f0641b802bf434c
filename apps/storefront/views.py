"""Storefront pages: the home page and the language/market switchers."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts.services import user_preferences_set
from apps.catalog.selectors import category_tree
from apps.catalog.views import Built, cached_page, card_boundaries, home_shelves, product_stock
from apps.markets.resolution import remember_choice, supported_language
from apps.markets.selectors import market_map


def home(request: HttpRequest) -> HttpResponse:
    """The category entry points and the product shelves (popular, today's deals, new
    arrivals, per-category picks): cached ids, then one listing and one stock query."""
    market = request.market  # type: ignore[attr-defined]

    def build() -> Built:
        shelves = home_shelves(market)
        cards = [card for shelf in shelves for card in shelf.cards]
        return Built(
            "storefront/_home_content.html",
            {"shelves": shelves, "categories": category_tree().roots},
            {},
            [card.id for card in cards],
            {card.id: card.available for card in cards},
            card_boundaries(cards),
        )

    return cached_page(request, "home", "storefront/home.html", build, stock=product_stock(market))


#: Query parameters that pick the language or market: a URL carrying them would override
#: the switcher's fresh choice (``?lang=`` outranks the cookie), so they leave the way back.
CHOICE_PARAMS = ("lang", "market")


def _next_url(request: HttpRequest) -> str:
    """Where the switcher returns to: the page it was on, without ``?lang=``/``?market=``
    (otherwise English chosen on ``/?lang=ko`` lands on ``/?lang=ko``, in Korean)."""
    target = request.POST.get("next") or request.META.get("HTTP_REFERER") or "/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return "/"
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in CHOICE_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(query)))


@require_POST
def preferences_set(request: HttpRequest) -> HttpResponse:
    """The header's language and market switcher (a plain form: works without JS).

    Remembers the choice in a cookie and the session, and saves it to a signed-in
    shopper's profile (the profile wins over cookies in the resolution order).
    """
    language = supported_language(request.POST.get("language"))
    market = (request.POST.get("market") or "").upper()
    if market not in market_map():
        market = ""
    response = remember_choice(
        request, HttpResponseRedirect(_next_url(request)), language=language, market=market
    )
    # A signed-in shopper's profile follows the switcher (the profile wins over cookies).
    user_preferences_set(user=request.user, locale=language, market=market or None)
    return response
