"""Rendering and content negotiation shared by every API view."""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemJSONRenderer(JSONRenderer):
    """JSON for RFC 9457 problem bodies, labelled ``application/problem+json``."""

    media_type = PROBLEM_MEDIA_TYPE
    format = "problem+json"


class ProblemAwareContentNegotiation(DefaultContentNegotiation):
    """``Accept: application/problem+json`` is acceptable (no 406).

    A client that says it understands problem details understands JSON: the token is
    read as ``application/problem+json, application/json`` with the same quality, so a
    success answers ``application/json`` and an error ``application/problem+json``.
    """

    def get_accept_list(self, request: Any) -> list[str]:
        tokens: list[str] = []
        for token in super().get_accept_list(request):
            tokens.append(token)
            media, sep, params = token.partition(";")
            if media.strip().lower() == PROBLEM_MEDIA_TYPE:
                tokens.append("application/json" + sep + params)
        return tokens
