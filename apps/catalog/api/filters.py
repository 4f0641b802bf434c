"""Query parameters of the product list (API and storefront share them).

Every parameter is validated strictly: a value that cannot be honoured is a
``request.invalid`` field error, never silently ignored or clamped to something else
(only ``limit`` above the maximum is capped, as API.md's "max 100" promises).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from apps.catalog.models import ProductListing
from apps.catalog.selectors import SORTS

#: Far above any price, far below PostgreSQL's bigint: a larger bound is a typo, not a filter.
MAX_MINOR_UNITS = 10**15


class StrictBooleanField(forms.Field):
    """``true``/``false``/``1``/``0`` (any case); anything else is an error, not "no filter"."""

    default_error_messages = {"invalid": _("Enter true or false.")}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class SlugFilter(django_filters.Filter):
    """A category slug: letters, digits, ``-`` and ``_``, at most ``Category.slug``'s 80."""

    field_class = forms.SlugField


class IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class ProductListForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error(
                "max_price",
                forms.ValidationError(
                    _("The maximum price must not be below the minimum price."), code="min_above_max"
                ),
            )
        return data


#: Longest search query: the API refuses a longer one, the storefront searches its start.
SEARCH_MAX_LENGTH = 100


class ProductListFilter(django_filters.FilterSet):
    """Parses and validates the filters; ``selectors.product_list`` applies them."""

    category = SlugFilter(label=_("Category"), method="noop", max_length=80)
    q = django_filters.CharFilter(label=_("Search"), method="noop", max_length=SEARCH_MAX_LENGTH)
    min_price = IntegerFilter(label=_("Minimum price"), method="noop", min_value=0, max_value=MAX_MINOR_UNITS)
    max_price = IntegerFilter(label=_("Maximum price"), method="noop", min_value=0, max_value=MAX_MINOR_UNITS)
    in_stock = StrictBooleanFilter(label=_("In stock only"), method="noop")
    sort = django_filters.ChoiceFilter(
        label=_("Sort"),
        method="noop",
        choices=[
            ("popular", _("Most popular")),
            ("price", _("Price: low to high")),
            ("-price", _("Price: high to low")),
            ("newest", _("Newest")),
        ],
    )
    # Page size: at least 1; values above the maximum are capped (``keyset.MAX_LIMIT``).
    limit = IntegerFilter(label=_("Page size"), method="noop", min_value=1, max_value=MAX_MINOR_UNITS)

    class Meta:
        model = ProductListing
        fields: list[str] = []
        form = ProductListForm

    def noop(self, queryset, name, value):  # type: ignore[no-untyped-def]
        return queryset


@cache
def product_list_form_class() -> type[forms.Form]:
    """The filter set's form class, built once per process. ``ProductListFilter(data).form``
    deep-copies every filter and builds a new form class on each call; the form is all the
    list needs (``selectors.product_list`` applies the cleaned values). Each instance still
    gets its own copy of the fields, like any Django form."""
    return ProductListFilter().get_form_class()


def product_list_form(data: Any) -> forms.Form:
    """The bound list form, the same as ``ProductListFilter(data).form``."""
    return product_list_form_class()(data)


assert {c[0] for c in ProductListFilter.base_filters["sort"].extra["choices"]} == set(SORTS)
