"""Query parameters of the product list (API and storefront share them)."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from apps.catalog.models import ProductListing
from apps.catalog.selectors import SORTS


class ProductListFilter(django_filters.FilterSet):
    """Parses and validates the filters; ``selectors.product_list`` applies them."""

    category = django_filters.CharFilter(label=_("Category"), method="noop")
    q = django_filters.CharFilter(label=_("Search"), method="noop", max_length=100)
    min_price = django_filters.NumberFilter(label=_("Minimum price"), method="noop", min_value=0)
    max_price = django_filters.NumberFilter(label=_("Maximum price"), method="noop", min_value=0)
    in_stock = django_filters.BooleanFilter(label=_("In stock only"), method="noop")
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

    class Meta:
        model = ProductListing
        fields: list[str] = []

    def noop(self, queryset, name, value):  # type: ignore[no-untyped-def]
        return queryset


assert {c[0] for c in ProductListFilter.base_filters["sort"].extra["choices"]} == set(SORTS)
