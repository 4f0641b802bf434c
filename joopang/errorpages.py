"""Django error handlers: problem+json under ``/api/``, localized pages elsewhere.

Every answer carries the request id (the ``X-Request-ID`` header, ``request_id`` in the
problem body, and on the page). The handlers never trust the request they answer: a
query string or form that cannot be parsed (the reason we are here, perhaps) is replaced
by an empty one before anything renders, so an error page cannot fail in turn.
"""

from __future__ import annotations

import sys
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template import loader
from django.utils import translation
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt

from apps.core import errors
from apps.core.problems import REQUEST_ID_LABEL, problem_json_response

logger = structlog.get_logger(__name__)

#: Machine endpoints outside /api/ that also answer problem+json (operators, Prometheus).
OPERATOR_PATHS = ("/healthz", "/readyz", "/metrics")


def wants_problem_json(request: HttpRequest) -> bool:
    path = request.path
    return path.startswith("/api/") or path.rstrip("/") in OPERATOR_PATHS


def _inert(request: HttpRequest) -> None:
    """Make the request's parameters safe to read while rendering an error page."""
    for attribute, empty in (("GET", QueryDict), ("POST", QueryDict)):
        try:
            getattr(request, attribute)
        except Exception:  # noqa: BLE001 - whatever broke parsing, render without it
            if attribute == "GET":
                request.GET = empty()
            else:
                request._post = empty()  # type: ignore[attr-defined]
                request._files = MultiValueDict()  # type: ignore[attr-defined]


def _early_language(request: HttpRequest) -> str:
    """The language for a refusal made before the locale middleware ran."""
    from apps.markets.resolution import resolve_language, resolve_market

    try:
        market = resolve_market(request)
        request.market = market  # type: ignore[attr-defined]
        return resolve_language(request, market)
    except Exception:
        logger.warning("errorpage.language_unresolved", exc_info=True)
        return "en"


def _context(request: HttpRequest, error: errors.DomainError) -> dict[str, Any]:
    return {
        "error": error,
        "request_id": getattr(request, "request_id", ""),
        "request_id_label": REQUEST_ID_LABEL,
    }


def _bare_page(request: HttpRequest, error: errors.DomainError) -> HttpResponse:
    """``500.html`` rendered without context processors (they may be what failed)."""
    context = _context(request, error)
    context["LANGUAGE_CODE"] = translation.get_language()
    html = loader.get_template("500.html").render(context)
    return HttpResponse(html, status=error.http_status)


def respond(request: HttpRequest, error: errors.DomainError, *, early: bool = False) -> HttpResponse:
    """The answer to ``error``: problem+json under ``/api/``, the error page elsewhere.

    ``early``: the refusal happens before the locale middleware (the input guard), so the
    language is resolved here from what is safe to read (cookie, Accept-Language, market).
    """
    _inert(request)
    if early:
        with translation.override(_early_language(request)):
            return respond(request, error)
    if wants_problem_json(request):
        return problem_json_response(error, request)
    try:
        response = render(request, "error.html", _context(request, error), status=error.http_status)
    except Exception:
        logger.exception("errorpage.render_failed", code=error.code)
        response = _bare_page(request, error)
    for name, value in error.headers.items():  # Retry-After of a 503 or a 429, Allow of a 405
        response[name] = value
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    from apps.core.problems import django_request_error

    mapped = django_request_error(exception) if exception is not None else None
    return respond(
        request, mapped if mapped is not None and mapped.http_status < 500 else errors.RequestMalformed()
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/admin/"):  # the back office's own page, with its way back
        from joopang.admin_site import permission_denied as admin_permission_denied

        return admin_permission_denied(request)
    return respond(request, errors.PermissionDenied())


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return respond(request, errors.NotFound())


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any path under ``/api/`` that no route matched: 404 problem+json, whatever the
    method and even with DEBUG on (Django's technical 404 page would list every route)."""
    return problem_json_response(errors.NotFound(), request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: the styled 403 page with the request id (the reason is logged)."""
    logger.warning("request.csrf_failed", reason=reason)
    return permission_denied(request)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its ``except`` block: an input error a middleware raised
    # that Django does not special-case (UnreadablePostError, RecursionError) keeps its 4xx.
    from apps.core.problems import django_request_error

    raised = sys.exc_info()[1]
    mapped = django_request_error(raised) if raised is not None else None
    if mapped is not None and mapped.http_status < 500:
        return respond(request, mapped)
    if isinstance(mapped, errors.ServiceUnavailable):
        # The database went away under a middleware (a session or a market read): a clean
        # 503 with Retry-After, like the same failure inside a view. Self-contained page:
        # the template's context processors may need the database too.
        _inert(request)
        response = (
            problem_json_response(mapped, request)
            if wants_problem_json(request)
            else _bare_page(request, mapped)
        )
        for name, value in mapped.headers.items():
            response[name] = value
        return response
    error = errors.ServerError()
    _inert(request)
    if wants_problem_json(request):
        return problem_json_response(error, request)
    # The template context processors may be what failed: keep this page self-contained.
    return _bare_page(request, error)
