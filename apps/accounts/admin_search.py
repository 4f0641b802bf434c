"""Back office search by phone number: phones are encrypted at rest, so lists match the
typed number's blind index (``crypto.phone_index``) instead of the column itself."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts import crypto


class PhoneSearchMixin:
    """Adds "search by phone" to a ModelAdmin: ``phone_index_lookup`` names the index field
    (``"phone_index"`` on users, ``"user__phone_index"`` on their orders). Any search term of
    seven digits or more (spaces, dashes and a +82/+1 prefix allowed) also matches it."""

    phone_index_lookup = "phone_index"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        results, may_have_duplicates = super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )
        index = crypto.phone_index(search_term)
        if index:
            results = results | queryset.filter(**{self.phone_index_lookup: index})
        return results, may_have_duplicates
