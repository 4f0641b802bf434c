"""OpenAPI helpers so every view documents its problem responses and headers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import Direction, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from apps.core.errors import (
    AuthenticationFailed,
    DomainError,
    NotFound,
    PermissionDenied,
    RequestInvalidCharacters,
    RequestTooLarge,
    RequestTooManyFields,
)
from apps.core.problems import PROBLEM_CONTENT_TYPE

IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description="1-255 visible ASCII characters, unique per operation attempt. A replay "
    "returns the stored response with `Idempotent-Replayed: true`.",
)

_FIELD_ERROR = inline_serializer(
    name="FieldError",
    fields={
        "field": serializers.CharField(),
        "code": serializers.CharField(),
        "message": serializers.CharField(),
    },
)

PROBLEM = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "instance": serializers.CharField(),
        "request_id": serializers.CharField(required=False),
        "errors": _FIELD_ERROR.__class__(many=True, required=False),
    },
)


def problem_responses(*error_classes: type[DomainError]) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses={200: Out, **problem_responses(InsufficientStock, ...)})``."""
    by_status: dict[int, list[str]] = {}
    for cls in error_classes:
        by_status.setdefault(cls.http_status, []).append(cls.code)
    return {
        status: OpenApiResponse(
            response=PROBLEM, description="Problem codes: " + ", ".join(f"`{c}`" for c in codes)
        )
        for status, codes in sorted(by_status.items())
    }


#: Answers of the input guard (ADR 0005) that any operation can give, whatever its view says.
_GUARD_ERRORS: dict[str, tuple[type[DomainError], ...]] = {
    "any": (RequestInvalidCharacters, RequestTooManyFields),
    "body": (RequestTooLarge,),
}


class JoopangAutoSchema(AutoSchema):
    """Names nested ``InputSerializer``/``OutputSerializer`` components after their view.

    The house style nests serializers in each view (``ProductListApi.OutputSerializer``);
    without this every one of them would be the component ``Output`` and collide.
    ``ProductListApi.OutputSerializer`` becomes ``ProductListOutput``.
    """

    def get_serializer_name(self, serializer: serializers.Serializer, direction: Direction) -> str:
        name = super().get_serializer_name(serializer, direction)
        parts = type(serializer).__qualname__.split(".")
        if len(parts) > 1 and "<locals>" not in parts:
            outer = parts[-2].removesuffix("Api").removesuffix("View").removesuffix("Serializer")
            if not name.startswith(outer):
                name = outer + name
        return name

    def _get_response_bodies(self, direction: Direction = "response") -> dict[str, Any]:
        """Every operation also documents the input guard's answers (ADR 0005)."""
        bodies: dict[str, Any] = super()._get_response_bodies(direction)
        guard = list(_GUARD_ERRORS["any"])
        if self.method in ("POST", "PUT", "PATCH"):
            guard += _GUARD_ERRORS["body"]
        by_status: dict[str, list[str]] = {}
        for cls in guard:
            by_status.setdefault(str(cls.http_status), []).append(f"`{cls.code}`")
        for status, codes in by_status.items():
            note = "Refused input (any operation): " + ", ".join(codes)
            if status in bodies:
                description = bodies[status].get("description", "")
                bodies[status]["description"] = f"{description}. {note}" if description else note
            else:
                bodies[status] = self._get_response_for_code(
                    OpenApiResponse(response=PROBLEM, description=note), status, direction=direction
                )
        for cls, why in self._bearer_errors():
            status, code = str(cls.http_status), f"`{cls.code}`"
            note = f"{code} ({why})"
            if status not in bodies:
                bodies[status] = self._get_response_for_code(
                    OpenApiResponse(response=PROBLEM, description=note), status, direction=direction
                )
            elif code not in bodies[status].get("description", ""):
                description = bodies[status].get("description", "")
                bodies[status]["description"] = f"{description}. {note}" if description else note
        for status, body in bodies.items():
            if status.isdigit() and int(status) >= 400:
                _as_problem_json(body)
        return dict(sorted(bodies.items()))

    def _bearer_errors(self) -> list[tuple[type[DomainError], str]]:
        """What a view answers whatever it declares: a path parameter the URL pattern does
        not accept (``-1`` for an id) is the catch-all 404; on a view that reads a bearer
        token, a bad token is 401 and a system client's token is 403 unless the view is made
        for system clients (``apps.accounts.authentication``), public ones included."""
        found: list[tuple[type[DomainError], str]] = []
        if "{" in self.path:
            found.append((NotFound, "a path parameter not of the documented form matches no route"))
        if not getattr(self.view, "authentication_classes", None):
            return found
        found.append((AuthenticationFailed, "a bearer token that is invalid or has expired"))
        if not getattr(self.view, "system_clients_allowed", False):
            found.append(
                (PermissionDenied, "a system client's token, which opens only the data platform's API")
            )
        return found


def _as_problem_json(body: dict[str, Any]) -> None:
    """An error answer is ``application/problem+json`` (RFC 9457), whatever the view renders
    on success: document it under that media type only."""
    content = body.get("content") or {}
    problem = next(
        (media for media in content.values() if media.get("schema", {}).get("$ref", "").endswith("/Problem")),
        None,
    )
    if problem is not None:
        body["content"] = {PROBLEM_CONTENT_TYPE: problem}
