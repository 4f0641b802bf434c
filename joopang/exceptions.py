"""DRF exception handler: every error leaves as RFC 9457 problem+json.

Domain errors and DRF's own (validation, 401, 403, 404, 405, 415, 429) map onto the
error catalog in :mod:`apps.core.errors`; unexpected exceptions become ``server.error``
(500) after being logged with the request id. Messages are in the request's language,
which the locale middleware has already activated.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from apps.core.errors import DomainError, ServerError
from apps.core.problems import as_domain_error, problem_response

logger = structlog.get_logger(__name__)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    request = context.get("request")
    if isinstance(exc, (DomainError, APIException, Http404, PermissionDenied)):
        error = as_domain_error(exc, request)
        if error.http_status >= 500:
            logger.error("api.error", code=error.code, exc_info=exc)
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
    return response
