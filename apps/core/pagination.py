"""Cursor pagination for every list (API.md "Lists"): ``?limit=`` 20 by default, max 100.

Cursor (keyset) pages stay stable while rows are inserted: no duplicates, no gaps.
A cursor that cannot be decoded is a 400 ``request.invalid`` on the ``cursor`` field (DRF
answers 404, which no list documents).
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import Cursor
from rest_framework.pagination import CursorPagination as DrfCursorPagination
from rest_framework.request import Request


class CursorPagination(DrfCursorPagination):
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100
    ordering = "-pk"

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError(
                {self.cursor_query_param: [str(self.invalid_cursor_message)]}
            ) from exc

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, DjangoValidationError) as exc:
            # A well-formed cursor whose position is not a value of the ordering field.
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise exceptions.ValidationError(
                {self.cursor_query_param: [str(self.invalid_cursor_message)]}
            ) from exc
