"""Project middleware (DESIGN.md §5; ADR 0005 for the input and header layers).

- ``RequestIdMiddleware``: the request id of logs, responses and problem bodies.
- ``InputGuardMiddleware``: refuses hostile input before any other layer reads it
  (invalid characters, too many parameters, bodies over the limit) and turns Django's
  request-level exceptions raised by views into catalog errors, DEBUG on or off.
- ``SecurityHeadersMiddleware``: Permissions-Policy on every response; ``no-store`` on
  every response that carries personal data.
- ``ContentSecurityPolicyMiddleware``: django-csp, with the admin's policy chosen by path.
- ``LocaleMarketMiddleware``: the request's language and market.
- ``PrometheusAfterMiddleware``: django-prometheus with bounded label values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import structlog
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.middleware import common
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import escape_leading_slashes
from django_prometheus import middleware as prometheus

from apps.accounts.throttling import client_address
from apps.core import errors
from apps.core.admin_hardening import harden_admin_widgets
from apps.core.problems import django_request_error, problem_json_response, too_large_error
from apps.markets.errors import UnknownMarket
from apps.markets.resolution import remember_choice, resolve_language, resolve_market
from joopang import errorpages

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
        structlog.contextvars.bind_contextvars(request_id=request_id, ip=client_address(request))
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


#: The operator endpoints (``joopang.health``): no market, no language.
OPERATOR_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class LocaleMarketMiddleware:
    """Pick the request's language and market, activate them, and say so in the response.

    Language: profile > explicit (``?lang=``, cookie, session) > Accept-Language >
    market default > ``en``. Market: explicit (``?market=``, ``X-Market``, cookie) >
    profile > ``DEFAULT_MARKET``. Replaces Django's LocaleMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in OPERATOR_PATHS:
            # Probes and scrapes have no market or language, and must answer when the
            # markets cannot be read (a database down, not yet migrated): liveness is
            # the process, readiness names the failing part itself.
            return self.get_response(request)
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


class MethodNotAllowedPageMiddleware:
    """A view's bare 405 (Django's ``HttpResponseNotAllowed``: an empty body) becomes the
    error page outside ``/api/`` (the API and the operator endpoints answer problem+json
    themselves): a ``TRACE`` or ``PUT`` on a storefront or admin page is the styled page
    with the request id and the ``Allow`` header, not a blank one. Inside
    :class:`LocaleMarketMiddleware`, so the page is in the request's language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code != 405
            or getattr(response, "streaming", False)
            or response.content
            or errorpages.wants_problem_json(request)
        ):
            return response
        page = errorpages.respond(request, errors.MethodNotAllowed(method=request.method or "?"))
        if "Allow" in response:
            page["Allow"] = response["Allow"]
        return page


# --- Input guard ----------------------------------------------------------------------

#: Never valid in a path or an identifier: C0 controls, DEL, C1 controls, lone surrogates.
_BAD_IN_PATH = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: Never valid in a parameter or form value. Tab, CR and LF stay allowed (a textarea).
_BAD_IN_VALUE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: Largest integer a URL converter may hand a view (PostgreSQL's bigint).
_MAX_INT = 2**63 - 1


def _environ_bytes(request: HttpRequest, key: str) -> bytes:
    value = request.META.get(key, "")
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("iso-8859-1")  # WSGI: raw bytes read as Latin-1
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")  # ASGI: already decoded


def _check_query(raw: bytes, max_fields: int | None) -> errors.DomainError | None:
    """Refuse a query string (or urlencoded body) that is not UTF-8, has more than
    ``max_fields`` parameters or carries control characters."""
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=max_fields
        )
    except UnicodeDecodeError:
        return errors.RequestInvalidCharacters()
    except ValueError:  # "Max number of fields exceeded"
        return errors.RequestTooManyFields(max_fields=max_fields)
    for key, value in pairs:
        if _BAD_IN_VALUE.search(key) or _BAD_IN_VALUE.search(value):
            return errors.RequestInvalidCharacters()
    return None


def _check_form(request: HttpRequest) -> errors.DomainError | None:
    """Parse a POSTed form now, inside this guard, so that what Django raises while
    reading it (too large, too many fields, a broken multipart body) is answered here and
    never by a later middleware (CSRF, session) under DEBUG's technical pages."""
    content_type = request.content_type or ""
    try:
        if content_type == "application/x-www-form-urlencoded":
            error = _check_query(request.body, settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
            if error is not None:
                return error
        request.POST  # noqa: B018 - parses and caches the form (and FILES)
    except Exception as exc:
        mapped = django_request_error(exc)
        if mapped is None:
            raise
        return mapped
    if content_type == "multipart/form-data":
        for key, values in request.POST.lists():
            if _BAD_IN_VALUE.search(key) or any(_BAD_IN_VALUE.search(v) for v in values):
                return errors.RequestInvalidCharacters()
        for key, uploads in request.FILES.lists():
            names = [getattr(upload, "name", "") or "" for upload in uploads]
            if _BAD_IN_VALUE.search(key) or any(_BAD_IN_VALUE.search(n) for n in names):
                return errors.RequestInvalidCharacters()
    return None


def input_error(request: HttpRequest) -> errors.DomainError | None:
    """The first reason to refuse this request's input, or ``None``.

    Path: valid UTF-8 without control characters. Query string: valid UTF-8, at most
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` parameters, no control characters but tab/CR/LF.
    Body: a declared length over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is refused unread
    (multipart included: no endpoint takes file uploads; one that will gets its own limit
    here, by path, not Django's default of streaming any size to disk); a POSTed form is parsed
    and checked like the query string. Host: one of ``ALLOWED_HOSTS``.
    """
    try:
        path = _environ_bytes(request, "PATH_INFO").decode("utf-8")
    except UnicodeDecodeError:
        return errors.RequestInvalidCharacters()
    if _BAD_IN_PATH.search(path) or _BAD_IN_PATH.search(request.path_info):
        return errors.RequestInvalidCharacters()
    error = _check_query(_environ_bytes(request, "QUERY_STRING"), settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
    if error is not None:
        return error
    try:
        request.get_host()
    except DisallowedHost:
        structlog.get_logger(__name__).warning("request.disallowed_host")
        return errors.RequestMalformed()
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    content_type = request.content_type or ""
    if limit is not None and length > limit:
        return too_large_error()
    if request.method == "POST" and content_type in _FORM_TYPES:
        return _check_form(request)
    return None


def _drop_bad_cookies(request: HttpRequest) -> None:
    """A cookie with a control character is dropped (never looked up: a session key with a
    NUL byte is a DataError on PostgreSQL). Browsers keep odd cookies; refusing the whole
    request would lock the visitor out until they clear them."""
    cookies = request.COOKIES
    if any(_BAD_IN_PATH.search(k) or _BAD_IN_PATH.search(v) for k, v in cookies.items()):
        request.COOKIES = {  # type: ignore[misc]
            k: v for k, v in cookies.items() if not (_BAD_IN_PATH.search(k) or _BAD_IN_PATH.search(v))
        }


#: What a 4xx status means when only Django's technical page says why.
_STATUS_ERRORS: dict[int, type[errors.DomainError]] = {
    400: errors.RequestMalformed,
    403: errors.PermissionDenied,
    404: errors.NotFound,
}


def _debug_page_as_problem(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Under DEBUG, Django answers an exception raised by a *middleware* (Http404,
    SuspiciousOperation...) with its technical HTML page; an API client gets the problem
    body for the same status instead."""
    content_type = response.get("Content-Type", "")
    error_class = _STATUS_ERRORS.get(response.status_code)
    if error_class is None or not content_type.startswith(("text/html", "text/plain")):
        return response
    return problem_json_response(error_class(), request)


class InputGuardMiddleware:
    """The one place hostile input is refused, for every surface (ADR 0005).

    Runs before sessions, CSRF, authentication, locale and the views, so none of them
    reads a body or a parameter this guard has not accepted. A refusal is the catalog
    error: problem+json under ``/api/``, the styled error page elsewhere, with the request
    id, DEBUG on or off. ``process_exception`` does the same for the request-level
    exceptions a view raises (``Http404``, ``PermissionDenied``, ``SuspiciousOperation``,
    ``BadRequest``, ``RequestDataTooBig``, ``UnreadablePostError``...), which Django would
    otherwise answer with its technical pages under DEBUG. ``process_view`` answers 404 to
    an integer URL argument beyond bigint before a view hands it to the database. Loading
    it also hardens the admin's autocomplete widgets (``apps.core.admin_hardening``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        harden_admin_widgets()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        error = input_error(request)
        if error is not None:
            structlog.get_logger(__name__).info("request.refused", code=error.code)
            return errorpages.respond(request, error, early=True)
        _drop_bad_cookies(request)
        response = self.get_response(request)
        if settings.DEBUG and 400 <= response.status_code < 500 and errorpages.wants_problem_json(request):
            response = _debug_page_as_problem(request, response)
        return response

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        for value in (*view_args, *view_kwargs.values()):
            if isinstance(value, int) and not -_MAX_INT - 1 <= value <= _MAX_INT:
                return errorpages.page_not_found(request, Http404())
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        error = django_request_error(exception)
        if error is None:
            return None
        if isinstance(exception, Http404):
            return errorpages.page_not_found(request, exception)
        if error.http_status == 403:
            return errorpages.permission_denied(request, exception)
        return errorpages.respond(request, error)


class CommonMiddleware(common.CommonMiddleware):
    """Django's, except that under DEBUG a write to a URL missing its slash is redirected as
    in production instead of raising ``RuntimeError`` (a 500 from input, DEBUG on)."""

    def get_full_path_with_slash(self, request: HttpRequest) -> str:
        if settings.DEBUG and request.method in ("DELETE", "POST", "PUT", "PATCH"):
            structlog.get_logger(__name__).warning("request.write_without_slash", path=request.path)
            return escape_leading_slashes(request.get_full_path(force_append_slash=True))
        return str(super().get_full_path_with_slash(request))


# --- Response headers -------------------------------------------------------------------


def _carries_personal_data(request: HttpRequest, response: HttpResponseBase) -> bool:
    if getattr(response, "personal_data", False) or getattr(request, "personal_data", False):
        return True
    if "HTTP_AUTHORIZATION" in request.META:
        return True  # a credentialed API call answers for one caller
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        return True  # a write's answer (a new account, a refused sign-in form) is about its caller
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class SecurityHeadersMiddleware:
    """``Permissions-Policy`` on every response, and ``Cache-Control: no-store`` on every
    response that carries personal data (ADR 0005):

    - any response to a signed-in person (session or token) or to a request with an
      ``Authorization`` header, and any answer to a write (POST, PUT, PATCH, DELETE...);
    - any view marked ``personal_data`` (``apps.core.cache_control.personal_data``:
      a decorator for functions, a class attribute for API views) or a response with
      ``response.personal_data = True``.

    A response that declared itself ``Cache-Control: public`` (a generated product image)
    keeps its own header: it has no personal data whoever asks.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.PERMISSIONS_POLICY
        if policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = policy
        if "public" not in response.get("Cache-Control", "") and _carries_personal_data(request, response):
            add_never_cache_headers(response)
        return response

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
        if getattr(view_func, "personal_data", False) or getattr(view_class, "personal_data", False):
            request.personal_data = True  # type: ignore[attr-defined]


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware; under ``/admin/`` the policy is widened by
    ``CONTENT_SECURITY_POLICY_ADMIN_UPDATE`` (unfold's Alpine.js evaluates its
    ``x-data`` expressions with ``new Function``: ``'unsafe-eval'``, admin only)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        extra: dict[str, Any] = getattr(settings, "CONTENT_SECURITY_POLICY_ADMIN_UPDATE", {})
        if extra and request.path_info.startswith("/admin/"):
            merged = dict(parts.update or {})
            for directive, sources in extra.items():
                merged[directive] = [*merged.get(directive, []), *sources]
            parts.update = merged
        return parts


# --- Metrics ---------------------------------------------------------------------------

#: Methods that get their own ``method`` label; anything else is ``other``, so made-up
#: methods (``curl -X M123``) cannot add one series each to /metrics.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
OTHER = "other"


def metric_method(method: str | None) -> str:
    return method if method in KNOWN_METHODS else OTHER


class _BoundedLabels:
    """Every label fed from the request takes a bounded set of values: ``method`` (known
    or ``other``), ``view`` (a URL pattern's name, or ``<unnamed view>`` when nothing
    resolved: never the path), ``status`` (a 3-digit code), ``transport`` (http/https),
    ``charset`` and ``templatename`` (set by our code, not the client)."""

    def label_metric(self, metric: Any, request: Any, response: Any = None, **labels: Any) -> Any:
        if "method" in labels:
            labels["method"] = metric_method(labels["method"])
        if "status" in labels and not (str(labels["status"]).isdigit() and len(str(labels["status"])) == 3):
            labels["status"] = OTHER
        return super().label_metric(metric, request, response, **labels)  # type: ignore[misc]


class PrometheusAfterMiddleware(_BoundedLabels, prometheus.PrometheusAfterMiddleware):  # type: ignore[misc]
    def _method(self, request: Any) -> str:
        return metric_method(request.method)
