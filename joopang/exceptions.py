"""DRF exception handler: every error leaves as RFC 9457 problem+json.

Domain errors and DRF's own (validation, 401, 403, 404, 405, 415, 429) map onto the
error catalog in :mod:`apps.core.errors`, and so do Django's request-level exceptions
(``RequestDataTooBig`` 413, ``TooManyFieldsSent`` 400, any other ``SuspiciousOperation``,
``BadRequest``, an unreadable body, a ``RecursionError`` from a parser: 400); unexpected
exceptions become ``server.error`` (500) after being logged with the request id. Messages
are in the request's language, which the locale middleware has already activated.

The problem body is always rendered as JSON, whatever renderer the view negotiated (the
schema view's YAML renderer, Swagger's HTML one): errors are never "YAML labelled JSON".
"""

from __future__ import annotations

from typing import Any

import structlog
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from apps.core.api.renderers import ProblemJSONRenderer
from apps.core.errors import DomainError, ServerError
from apps.core.problems import PROBLEM_CONTENT_TYPE, as_domain_error, django_request_error, problem_response

logger = structlog.get_logger(__name__)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    request = context.get("request")
    if isinstance(exc, (DomainError, APIException)) or django_request_error(exc) is not None:
        error = as_domain_error(exc, request)
        if error.http_status >= 500:
            logger.error("api.error", code=error.code, exc_info=exc)
        elif isinstance(exc, (RecursionError, UnicodeDecodeError)):
            logger.warning("api.malformed_input", error=type(exc).__name__)
    else:
        logger.exception("api.unhandled_exception", exc_info=exc)
        error = ServerError()
    response = problem_response(error, request)
    if isinstance(exc, APIException):
        # DRF sets WWW-Authenticate / Retry-After on some exceptions; keep them.
        for header in ("WWW-Authenticate",):
            value = getattr(exc, "auth_header", None)
            if value:
                response[header] = value
    if request is not None:
        # finalize_response renders with request.accepted_renderer: make it JSON, so a
        # failed content negotiation (406) or a YAML/HTML view still answers a JSON body.
        request.accepted_renderer = ProblemJSONRenderer()
        request.accepted_media_type = PROBLEM_CONTENT_TYPE
    return response
