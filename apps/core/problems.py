"""RFC 9457 problem details for domain errors and DRF's own errors.

``as_domain_error`` maps any DRF exception onto the error catalog, so every error a
client can get has a stable ``code`` and a title/detail in the request's language.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core import errors

PROBLEM_CONTENT_TYPE = "application/problem+json"
#: Shown next to the request id on error pages (support asks for it).
REQUEST_ID_LABEL = _("Request ID")
TYPE_PREFIX = "urn:joopang:problem:"
#: Keys a domain error's parameters may not overwrite in the problem body.
_RESERVED = {"type", "title", "status", "detail", "code", "instance", "errors", "request_id"}
#: Longest string a problem body echoes back (a parameter, the instance, a field message):
#: an unbounded identifier sent by a client is never reflected whole.
MAX_ECHO = errors.MAX_ECHO
#: At most this many field errors are listed (a list of 100,000 bad items is not echoed).
MAX_FIELD_ERRORS = 50
_clip = errors.clip
#: Retry-After (seconds) of a 503 ``server.unavailable`` when the database cannot be reached:
#: a restart or fail-over takes seconds, and clients should not hammer it meanwhile.
DATABASE_RETRY_AFTER_SECONDS = 5


def too_many_fields_error() -> errors.DomainError:
    return errors.RequestTooManyFields(max_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)


def too_large_error() -> errors.DomainError:
    return errors.RequestTooLarge(max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def database_unavailable_error() -> errors.DomainError:
    """503 ``server.unavailable`` with ``Retry-After``: the database is unreachable."""
    error = errors.ServiceUnavailable()
    error.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return error


def django_request_error(exc: BaseException) -> errors.DomainError | None:
    """The catalog error for Django's request-level exceptions, or ``None``.

    ``RequestDataTooBig`` (body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``) is 413
    ``request.too_large``; ``TooManyFieldsSent``/``TooManyFilesSent`` 400
    ``request.too_many_fields``; any other ``SuspiciousOperation``, ``BadRequest``,
    an unreadable or unparsable body (``UnreadablePostError``, ``MultiPartParserError``),
    a ``RecursionError`` from parsing, or text that is not valid UTF-8 is 400
    ``request.malformed``. The database unreachable (``OperationalError``: connection
    refused or lost, server shutting down, the pool timing out; ``InterfaceError``: a
    connection already closed) is 503 ``server.unavailable`` with ``Retry-After``: a
    transient outage, not a bug, so the client may retry shortly.
    """
    if isinstance(exc, (DatabaseOperationalError, DatabaseInterfaceError)):
        return database_unavailable_error()
    if isinstance(exc, RequestDataTooBig):
        return too_large_error()
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return too_many_fields_error()
    if isinstance(exc, (SuspiciousOperation, BadRequest, UnreadablePostError, MultiPartParserError)):
        return errors.RequestMalformed()
    if isinstance(exc, (RecursionError, UnicodeDecodeError)):
        return errors.RequestMalformed()
    if isinstance(exc, Http404):
        return errors.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return errors.PermissionDenied()
    return None


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten DRF's nested ValidationError detail into ``[{field, code, message}]``."""
    out: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out.extend(_field_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                out.extend(_field_errors(value, f"{prefix}[{index}]" if prefix else str(index)))
            else:
                out.extend(_field_errors(value, prefix))
    else:
        code = getattr(detail, "code", None) or "invalid"
        out.append({"field": prefix or "non_field_errors", "code": str(code), "message": str(detail)})
    return out


def as_domain_error(exc: Exception, request: Any = None) -> errors.DomainError:
    """Translate DRF/Django exceptions into catalog errors; pass domain errors through."""
    if isinstance(exc, errors.DomainError):
        return exc
    if isinstance(exc, drf.ValidationError):
        err: errors.DomainError = errors.RequestInvalid()
        err.params["errors"] = _field_errors(exc.detail)
        return err
    if isinstance(exc, drf.ParseError):
        return errors.RequestMalformed()
    if isinstance(exc, drf.NotAuthenticated):
        return errors.LoginRequired()
    if isinstance(exc, drf.AuthenticationFailed):
        return errors.AuthenticationFailed()
    if isinstance(exc, (drf.PermissionDenied, DjangoPermissionDenied)):
        return errors.PermissionDenied()
    if isinstance(exc, (drf.NotFound, Http404)):
        return errors.NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return errors.MethodNotAllowed(method=getattr(request, "method", None) or "?")
    if isinstance(exc, drf.NotAcceptable):
        return errors.NotAcceptable()
    if isinstance(exc, drf.UnsupportedMediaType):
        return errors.UnsupportedMediaType(media_type=getattr(exc, "media_type", "?"))
    django_error = django_request_error(exc)
    if django_error is not None:
        return django_error
    if isinstance(exc, drf.Throttled):
        seconds: float | None = exc.wait  # type: ignore[attr-defined]  # drf-stubs omit Throttled.wait
        # Round up (as DRF does): "Retry-After: 0" would invite an immediate retry.
        wait = max(1, math.ceil(seconds)) if seconds is not None else 1
        err = errors.Throttled(retry_after=wait)
        err.headers["Retry-After"] = str(wait)
        return err
    return errors.ServerError()


def problem_body(error: errors.DomainError, *, instance: str, request_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + error.code,
        "title": str(error.title),
        "status": error.http_status,
        "detail": error.detail,
        "code": error.code,
        "instance": _clip(instance),
    }
    for key, value in error.params.items():
        if key not in _RESERVED:
            body[key] = _clip(value)
    if "errors" in error.params:
        body["errors"] = [
            {k: _clip(v) for k, v in item.items()} if isinstance(item, dict) else item
            for item in error.params["errors"][:MAX_FIELD_ERRORS]
        ]
    if request_id:
        body["request_id"] = request_id
    return body


def problem_response(error: errors.DomainError, request: Request | Any) -> Response:
    body = problem_body(
        error,
        instance=request.get_full_path() if hasattr(request, "get_full_path") else "",
        request_id=getattr(request, "request_id", None)
        or getattr(getattr(request, "_request", None), "request_id", None),
    )
    response = Response(body, status=error.http_status, headers=error.headers or None)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_json_response(error: errors.DomainError, request: Any) -> JsonResponse:
    """The same problem body outside DRF (middleware, Django error handlers)."""
    body = problem_body(
        error, instance=request.get_full_path(), request_id=getattr(request, "request_id", None)
    )
    response = JsonResponse(
        body,
        status=error.http_status,
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )
    for key, value in error.headers.items():
        response[key] = value
    return response
