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

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import structlog
from asgiref.sync import iscoroutinefunction
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.core.exceptions import DisallowedHost
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.middleware import common
from django.test.signals import setting_changed
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.functional import SimpleLazyObject, empty
from django.utils.http import escape_leading_slashes
from django_prometheus import middleware as prometheus
from django_structlog import signals as structlog_signals
from django_structlog.app_settings import app_settings as structlog_settings
from django_structlog.middlewares import request as structlog_request

from apps.accounts.throttling import client_address
from apps.core import errors
from apps.core.admin_hardening import harden_admin_widgets
from apps.core.problems import django_request_error, problem_json_response, too_large_error
from apps.core.request_info import is_unloaded_guest, known_user, query_get
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
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        if _SAFE_ID.match(incoming):
            request_id = incoming
        else:
            request_id = uuid.uuid4().hex
            request.META["HTTP_X_REQUEST_ID"] = request_id
            request.__dict__.pop("headers", None)  # if read already: later code sees the sane id
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, ip=client_address(request))
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


_request_log = logging.getLogger(structlog_request.__name__)  # django-structlog's request logger
_GUEST = AnonymousUser()


@dataclass(frozen=True)
class _StructlogKnobs:
    """django-structlog's settings the request path reads (its ``app_settings`` looks each
    up on every read, and an unset one costs a caught ``AttributeError``)."""

    start_level: int
    levels: dict[int, int]  # status // 100 -> level
    default_level: int
    trust_request_id: bool
    trust_correlation_id: bool
    ip_logging: bool
    user_id_field: str


@lru_cache(maxsize=1)
def _structlog_knobs() -> _StructlogKnobs:
    knobs = structlog_settings
    return _StructlogKnobs(
        start_level=knobs.STATUS_START_LOG_LEVEL,
        levels={2: knobs.STATUS_2XX_LOG_LEVEL, 4: knobs.STATUS_4XX_LOG_LEVEL, 5: knobs.STATUS_5XX_LOG_LEVEL},
        default_level=knobs.STATUS_DEFAULT_LOG_LEVEL,
        trust_request_id=knobs.TRUST_UPSTREAM_REQUEST_ID,
        trust_correlation_id=knobs.TRUST_UPSTREAM_CORRELATION_ID,
        ip_logging=knobs.IP_LOGGING_ENABLED,
        user_id_field=knobs.USER_ID_FIELD,
    )


@receiver(setting_changed)
def _structlog_knobs_clear(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(structlog_settings.PREFIX):
        _structlog_knobs.cache_clear()


class RequestLogMiddleware(structlog_request.RequestMiddleware):
    """django-structlog's request logging, the same events with the same fields
    (``request_started`` at ``DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL``,
    ``request_finished`` with ``code`` and ``request``, ``request_failed``...), without the
    work nobody sees: an event below the logger's level is neither built nor sent through
    structlog's processors (unless a receiver of django-structlog's signals wants its
    arguments), the request id is read from ``META`` (``RequestIdMiddleware`` has set it)
    instead of building ``request.headers``, and a guest's ``user_id`` is known without
    loading the session (:func:`apps.core.request_user.is_unloaded_guest`).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self._is_async = iscoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._is_async:
            return self.__acall__(request)
        self.prepare(request)
        response = self.get_response(request)
        self.handle_response(request, response)  # type: ignore[arg-type]
        return response

    def _log_level_for_status_code(self, status_code: int) -> int:
        return _structlog_knobs().levels.get(status_code // 100, _structlog_knobs().default_level)

    def prepare(self, request: HttpRequest) -> None:
        knobs = _structlog_knobs()
        level = knobs.start_level
        if structlog_signals.bind_extra_request_metadata.receivers or _request_log.isEnabledFor(level):
            super().prepare(request)
            return
        meta = request.META
        if knobs.trust_request_id:
            request_id = meta.get("HTTP_X_REQUEST_ID") or str(uuid.uuid4())
        else:
            request_id = str(uuid.uuid4())
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if knobs.trust_correlation_id:
            correlation_id = meta.get("HTTP_X_CORRELATION_ID")
            if correlation_id:
                structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        self.bind_user_id(request)
        if knobs.ip_logging:
            self.bind_ip(request)

    def handle_response(self, request: HttpRequest, response: HttpResponse) -> None:
        if (
            hasattr(request, "_raised_exception")
            or isinstance(response, StreamingHttpResponse)
            or structlog_signals.bind_extra_request_finished_metadata.receivers
            or _request_log.isEnabledFor(self._log_level_for_status_code(response.status_code))
        ):
            super().handle_response(request, response)
            return
        structlog.contextvars.clear_contextvars()  # as the library does after its line

    @staticmethod
    def bind_user_id(request: HttpRequest) -> None:
        field = _structlog_knobs().user_id_field
        if field and is_unloaded_guest(request):
            structlog.contextvars.bind_contextvars(user_id=getattr(_GUEST, field, None))
            return
        structlog_request.RequestMiddleware.bind_user_id(request)


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
        if (
            not is_api
            and request.method == "GET"
            and (query_get(request, "lang") is not None or query_get(request, "market") is not None)
        ):
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
    query = _environ_bytes(request, "QUERY_STRING")
    error = _check_query(query, settings.DATA_UPLOAD_MAX_NUMBER_FIELDS) if query else None
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
    if "COOKIES" not in request.__dict__ and not request.META.get("HTTP_COOKIE"):
        return  # no cookie header: nothing to parse (nor to drop)
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


class LazyMessageMiddleware(MessageMiddleware):
    """Django's messages, with the storage (``MESSAGE_STORAGE``: the cookie and session
    backends) built when a view, a template or ``messages.add_message`` first uses it,
    not for every request: a response whose request never touched its messages has
    nothing to store (Django's ``update`` would do nothing either)."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        storage = getattr(request, "_messages", None)
        if type(storage) is SimpleLazyObject and storage._wrapped is empty:
            return response
        return super().process_response(request, response)


# --- Response headers -------------------------------------------------------------------


def _carries_personal_data(request: HttpRequest, response: HttpResponseBase) -> bool:
    if getattr(response, "personal_data", False) or getattr(request, "personal_data", False):
        return True
    if "HTTP_AUTHORIZATION" in request.META:
        return True  # a credentialed API call answers for one caller
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        return True  # a write's answer (a new account, a refused sign-in form) is about its caller
    user = known_user(request)  # a guest's request loads no session to learn it
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


#: Stands for the request's nonce in a cached policy (base64 never contains it).
_NONCE_MARK = "\x00nonce\x00"
#: (report only, admin path, with a nonce) -> the header value, ``_NONCE_MARK`` for the nonce.
_policy_cache: dict[tuple[bool, bool, bool], str] = {}
_CSP_SETTINGS = frozenset(
    {"CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY", "CONTENT_SECURITY_POLICY_ADMIN_UPDATE"}
)
#: Per-response overrides of django-csp's decorators: such a response takes the library's path.
_CSP_RESPONSE_ATTRS = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)


@receiver(setting_changed)
def _policy_cache_clear(*, setting: str, **kwargs: Any) -> None:
    if setting in _CSP_SETTINGS:
        _policy_cache.clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware; under ``/admin/`` the policy is widened by
    ``CONTENT_SECURITY_POLICY_ADMIN_UPDATE`` (unfold's Alpine.js evaluates its
    ``x-data`` expressions with ``new Function``: ``'unsafe-eval'``, admin only).

    The policy depends only on the settings, the path's surface (admin or not) and whether
    the page used its nonce, so each variant is built once per process (the request's nonce
    put in on the way out) instead of twice per response; a response carrying django-csp's
    per-view overrides (``@csp_update``...) is built by the library as before.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if any(getattr(response, attr, None) is not None for attr in _CSP_RESPONSE_ATTRS):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # django-csp leaves Django's debug pages alone
        nonce: str | None = getattr(request, "_csp_nonce", None)
        admin = request.path_info.startswith("/admin/")
        for report_only, header, exempt_attr in (
            (False, HEADER, "_csp_exempt"),
            (True, HEADER_REPORT_ONLY, "_csp_exempt_ro"),
        ):
            key = (report_only, admin, nonce is not None)
            policy = _policy_cache.get(key)
            if policy is None:
                policy = _policy_cache[key] = self._policy(request, response, report_only, nonce is not None)
            if not policy or header in response or getattr(response, exempt_attr, False) is not False:
                continue
            config = getattr(
                settings,
                "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY",
                None,
            )
            prefixes = (config or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
            if prefixes and request.path_info.startswith(tuple(prefixes)):
                continue
            response[header] = policy.replace(_NONCE_MARK, nonce) if nonce is not None else policy
        if nonce is None:
            # django-csp: reading the nonce after the header is written is an error
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response

    def _policy(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool, nonce: bool
    ) -> str:
        parts = self.get_policy_parts(request, response, report_only)
        parts.nonce = _NONCE_MARK if nonce else None
        return build_policy(**asdict(parts), report_only=report_only)

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


_UNNAMED_VIEW = "<unnamed view>"


def _status_label(status_code: int) -> str:
    status = str(status_code)
    return status if status.isdigit() and len(status) == 3 else OTHER


class PrometheusAfterMiddleware(_BoundedLabels, prometheus.PrometheusAfterMiddleware):  # type: ignore[misc]
    """django-prometheus's, with bounded labels (:class:`_BoundedLabels`) and the same series
    and values, on a cheaper path for the three hooks every request runs: headers are read
    from ``META`` (building ``request.headers`` cost more than all the counters), and each
    labelled child is looked up once per label values (they are bounded) instead of through
    ``labels(**kwargs)`` every time. Template and exception hooks stay the library's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._children: dict[tuple[Any, ...], Any] = {}

    def _method(self, request: Any) -> str:
        return metric_method(request.method)

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)`` (values in the metric's label order), remembered."""
        key = (metric, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def process_request(self, request: Any) -> None:
        metrics, meta = self.metrics, request.META
        self._child(metrics.requests_by_method, metric_method(request.method)).inc()
        self._child(metrics.requests_by_transport, self._transport(request)).inc()
        if meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
            metrics.requests_ajax.inc()
        try:
            content_length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:  # the library raised here (a 500); Django reads such a body as empty
            content_length = 0
        metrics.requests_body_bytes.observe(content_length)
        request.prometheus_after_middleware_event = prometheus.Time()

    def process_view(self, request: Any, view_func: Any, *view_args: Any, **view_kwargs: Any) -> None:
        match = getattr(request, "resolver_match", None)
        if match is not None:
            self._child(
                self.metrics.requests_by_view_transport_method,
                match.view_name or _UNNAMED_VIEW,
                self._transport(request),
                metric_method(request.method),
            ).inc()

    def process_response(self, request: Any, response: Any) -> Any:
        metrics = self.metrics
        method = metric_method(request.method)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match is not None else None) or _UNNAMED_VIEW
        status = _status_label(response.status_code)
        self._child(metrics.responses_by_status, status).inc()
        self._child(metrics.responses_by_status_view_method, status, view, method).inc()
        if hasattr(response, "charset"):
            self._child(metrics.responses_by_charset, str(response.charset)).inc()
        if getattr(response, "streaming", False):
            metrics.responses_streaming.inc()
        if hasattr(response, "content"):
            metrics.responses_body_bytes.observe(len(response.content))
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            self._child(metrics.requests_latency_by_view_method, view, method).observe(
                prometheus.TimeSince(started)
            )
        else:
            metrics.requests_unknown_latency.inc()
        return response
