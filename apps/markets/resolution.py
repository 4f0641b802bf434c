"""Which language and market a request is in (DESIGN.md §5).

Language: user profile > explicit choice (``?lang=``, cookie, session) >
``Accept-Language`` > the market's default > ``en``.
Market: explicit (``?market=``, ``X-Market``, cookie) > profile > ``DEFAULT_MARKET``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import trans_real

from apps.core.request_info import known_user, query_get
from apps.markets.errors import UnknownMarket
from apps.markets.models import Market
from apps.markets.selectors import market_get, market_map

SUPPORTED = {code for code, _ in settings.LANGUAGES}
SESSION_LANGUAGE_KEY = "joopang_lang"
SESSION_MARKET_KEY = "joopang_market"


def _profile(request: HttpRequest) -> tuple[str | None, str | None]:
    """(locale, market) from the signed-in user, or from token claims set by auth."""
    claims: dict[str, Any] | None = getattr(request, "token_claims", None)
    if claims:
        return claims.get("locale"), claims.get("market")
    user = known_user(request)  # a guest's request loads no session to learn it
    if user is not None and user.is_authenticated:
        return getattr(user, "locale", None) or None, getattr(user, "market_id", None) or None
    return None, None


def supported_language(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower().replace("_", "-").split("-")[0]
    return value if value in SUPPORTED else None


def explicit_market_code(request: HttpRequest) -> str | None:
    return (
        query_get(request, "market")
        or request.META.get("HTTP_X_MARKET")
        or request.COOKIES.get(settings.MARKET_COOKIE_NAME)
        or None
    )


def resolve_market(request: HttpRequest, *, strict: bool = False) -> Market:
    """The request's market. ``strict``: an unknown explicit code raises ``market.unknown``
    (the API); otherwise it is ignored (the storefront)."""
    explicit = explicit_market_code(request)
    if explicit:
        try:
            return market_get(explicit)
        except UnknownMarket:
            if strict:
                raise
    _, profile_market = _profile(request)
    markets = market_map()
    if profile_market and profile_market in markets:
        return markets[profile_market]
    return market_get(settings.DEFAULT_MARKET)


def accept_language(request: HttpRequest) -> str | None:
    return _accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))


@lru_cache(maxsize=1000)  # browsers send a handful of distinct headers
def _accept_language(header: str) -> str | None:
    for code, _quality in trans_real.parse_accept_lang_header(header):
        found = supported_language(code)
        if found:
            return found
    return None


def resolve_language(request: HttpRequest, market: Market) -> str:
    profile_locale, _ = _profile(request)
    session = getattr(request, "session", None)
    if (
        session is not None
        and getattr(session, "session_key", "") is None
        and "_session_cache" not in vars(session)
    ):
        session = None  # no cookie and nothing stored yet: nothing to read (nor to load)
    for candidate in (
        profile_locale,
        query_get(request, "lang"),
        request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME),
        session.get(SESSION_LANGUAGE_KEY) if session is not None else None,
        accept_language(request),
        market.default_locale,
    ):
        found = supported_language(candidate)
        if found:
            return found
    return "en"


CHOICE_COOKIE_SECONDS = 60 * 60 * 24 * 365


def remember_choice(
    request: HttpRequest,
    response: HttpResponse,
    *,
    language: str | None = None,
    market: str | None = None,
    use_session: bool = True,
) -> HttpResponse:
    """Keep an explicit language/market choice in the session and a one-year cookie.

    Used by the header switcher and after login/sign-up (the profile's preferences
    become the browser's). Unsupported values are ignored. ``use_session=False`` only
    sets cookies (no session row is created for an anonymous visitor).
    """
    language = supported_language(language)
    if language:
        if use_session and hasattr(request, "session"):
            request.session[SESSION_LANGUAGE_KEY] = language
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=CHOICE_COOKIE_SECONDS,
            samesite="Lax",
            secure=request.is_secure(),
        )
    market = (market or "").upper()
    if market in market_map():
        if use_session and hasattr(request, "session"):
            request.session[SESSION_MARKET_KEY] = market
        response.set_cookie(
            settings.MARKET_COOKIE_NAME,
            market,
            max_age=CHOICE_COOKIE_SECONDS,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response
