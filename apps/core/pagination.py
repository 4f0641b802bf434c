"""Cursor pagination for every list (API.md "Lists"): ``?limit=`` 20 by default, max 100.

Cursor (keyset) pages stay stable while rows are inserted: no duplicates, no gaps.
"""

from rest_framework.pagination import CursorPagination as DrfCursorPagination


class CursorPagination(DrfCursorPagination):
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100
    ordering = "-pk"
