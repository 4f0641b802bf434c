"""Project middleware: request id, and locale + market resolution (DESIGN.md §5)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from apps.core.problems import problem_json_response
from apps.markets.errors import UnknownMarket
from apps.markets.resolution import remember_choice, resolve_language, resolve_market

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Take ``X-Request-ID`` from the caller (if sane) or make one; echo it back.

    The id is bound to structlog's context so every log line of the request carries it,
    and django-structlog's middleware picks the same value from the header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.META["HTTP_X_REQUEST_ID"] = request_id
        request.__dict__.pop("headers", None)  # re-read META: later code sees the sane id
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class LocaleMarketMiddleware:
    """Pick the request's language and market, activate them, and say so in the response.

    Language: profile > explicit (``?lang=``, cookie, session) > Accept-Language >
    market default > ``en``. Market: explicit (``?market=``, ``X-Market``, cookie) >
    profile > ``DEFAULT_MARKET``. Replaces Django's LocaleMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = request.path.startswith("/api/")
        try:
            market = resolve_market(request, strict=is_api)
        except UnknownMarket as exc:
            # Only the API is strict: a mobile app sending X-Market: XX has a bug to see.
            language = resolve_language(request, resolve_market(request))
            with translation.override(language):
                response: HttpResponse = problem_json_response(exc, request)
            response["Content-Language"] = language
            return response
        language = resolve_language(request, market)
        request.market = market  # type: ignore[attr-defined]
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        structlog.contextvars.bind_contextvars(market=market.code)
        with translation.override(language):
            response = self.get_response(request)
        if not is_api and request.method == "GET" and ("lang" in request.GET or "market" in request.GET):
            # A storefront link such as /?lang=en&market=US keeps its choice for the next
            # pages (cookies only: no session is created for a guest).
            remember_choice(
                request,
                response,
                language=request.GET.get("lang"),
                market=request.GET.get("market"),
                use_session=False,
            )
        response.headers.setdefault("Content-Language", language)
        response.headers.setdefault("X-Market", market.code)
        vary = response.headers.get("Vary")
        extra = "Accept-Language, X-Market, Cookie"
        response.headers["Vary"] = f"{vary}, {extra}" if vary else extra
        return response
