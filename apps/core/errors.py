"""Domain errors: one catalog of stable dotted codes with ko/en messages.

Every app declares its errors in ``apps/<app>/errors.py`` as subclasses of
:class:`DomainError`. Each class sets ``code`` (never renamed, never reused),
``http_status``, a short ``title`` and a ``message`` with named parameters
(``%(sku)s``); the parameters also become fields of the RFC 9457 problem body. The
same error object serves the API (problem+json) and the storefront (a message banner).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

#: Longest string parameter an error echoes back (in its detail and problem body): a
#: 10,000-character identifier sent by a client is never reflected whole.
MAX_ECHO = 200


def clip(value: Any, limit: int = MAX_ECHO) -> Any:
    """``value`` cut to ``limit`` characters (with an ellipsis) when it is a longer string."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


#: code -> error class, filled as subclasses are defined (see ``__init_subclass__``).
ERROR_CATALOG: dict[str, type[DomainError]] = {}


class DomainError(Exception):
    """A business rule refused a request; safe to show to the user."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400
    title: ClassVar[str | Promise] = _("Request refused")
    message: ClassVar[str | Promise] = _("The request could not be completed.")
    #: Extra response headers (e.g. Retry-After) the problem response should carry.
    headers: dict[str, str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if code is None:
            return
        existing = ERROR_CATALOG.get(code)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(f"error code {code!r} is already used by {existing.__qualname__}")
        ERROR_CATALOG[code] = cls

    def __init__(self, detail: str | None = None, /, **params: Any) -> None:
        self.params = params
        self._detail = detail
        self.headers = {}
        super().__init__(self.code)

    @property
    def detail(self) -> str:
        """The localized message in the active language, parameters filled in."""
        if self._detail is not None:
            return self._detail
        text = str(self.message)
        return text % {k: clip(v, 64) for k, v in self.params.items()} if self.params else text

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


# --- Request-level errors (used by the problem+json exception handler) ---------------


class RequestInvalid(DomainError):
    code = "request.invalid"
    http_status = 400
    title = _("Invalid request")
    message = _("Some fields are missing or invalid. See errors for details.")


class RequestMalformed(DomainError):
    code = "request.malformed"
    http_status = 400
    title = _("Malformed request")
    message = _("The request body could not be parsed.")


class RequestTooLarge(DomainError):
    code = "request.too_large"
    http_status = 413
    title = _("Request too large")
    message = _("The request body is larger than the limit of %(max_bytes)s bytes.")


class RequestTooManyFields(DomainError):
    code = "request.too_many_fields"
    http_status = 400
    title = _("Too many parameters")
    message = _("The request has more than %(max_fields)s parameters or form fields.")


class RequestInvalidCharacters(DomainError):
    code = "request.invalid_characters"
    http_status = 400
    title = _("Invalid characters")
    message = _(
        "The request contains characters that are not allowed "
        "(control characters such as NUL, or text that is not valid UTF-8)."
    )


class LoginRequired(DomainError):
    code = "auth.login_required"
    http_status = 401
    title = _("Login required")
    message = _("Please log in to continue.")


class AuthenticationFailed(DomainError):
    code = "auth.authentication_failed"
    http_status = 401
    title = _("Authentication failed")
    message = _("The credentials or token are invalid or have expired.")


class PermissionDenied(DomainError):
    code = "auth.permission_denied"
    http_status = 403
    title = _("Permission denied")
    message = _("You do not have permission to perform this action.")


class NotFound(DomainError):
    code = "request.not_found"
    http_status = 404
    title = _("Not found")
    message = _("The requested resource does not exist.")


class MethodNotAllowed(DomainError):
    code = "request.method_not_allowed"
    http_status = 405
    title = _("Method not allowed")
    message = _("The method %(method)s is not allowed on this resource.")


class NotAcceptable(DomainError):
    code = "request.not_acceptable"
    http_status = 406
    title = _("Not acceptable")
    message = _("The requested response format is not available.")


class UnsupportedMediaType(DomainError):
    code = "request.unsupported_media_type"
    http_status = 415
    title = _("Unsupported media type")
    message = _("The content type %(media_type)s is not supported.")


class Throttled(DomainError):
    code = "request.throttled"
    http_status = 429
    title = _("Too many requests")
    message = _("Too many requests. Please try again in %(retry_after)s seconds.")


class ServerError(DomainError):
    code = "server.error"
    http_status = 500
    title = _("Server error")
    message = _("Something went wrong on our side. Please try again later.")


class ServiceUnavailable(DomainError):
    code = "server.unavailable"
    http_status = 503
    title = _("Service unavailable")
    message = _("The service is temporarily unavailable. Please try again shortly.")


# --- Idempotency (API.md "Common rules") ---------------------------------------------


class IdempotencyKeyRequired(DomainError):
    code = "idempotency.key_required"
    http_status = 400
    title = _("Idempotency-Key required")
    message = _("This request needs an Idempotency-Key header (1 to 255 characters).")


class IdempotencyKeyInvalid(DomainError):
    code = "idempotency.key_invalid"
    http_status = 400
    title = _("Invalid Idempotency-Key")
    message = _("The Idempotency-Key header must be 1 to 255 visible ASCII characters.")


class IdempotencyKeyReused(DomainError):
    code = "idempotency.key_reused"
    http_status = 422
    title = _("Idempotency-Key reused")
    message = _("This Idempotency-Key was already used for a different request.")


class IdempotencyInProgress(DomainError):
    code = "idempotency.in_progress"
    http_status = 409
    title = _("Request in progress")
    message = _("A request with this Idempotency-Key is still being processed.")
