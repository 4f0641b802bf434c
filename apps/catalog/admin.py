"""Catalog back office on unfold: ko/en fields side by side (modeltranslation's
TranslationAdmin; the tabbed variant loads jQuery UI from a CDN, and deployments may be
closed networks), SKU and price inlines. Lists name the product and show money formatted
for its currency (never raw minor units) and times in the market's zone. Saves go through the catalog services' re-index so the search
document and listings never drift from what staff edit.

Marketing managers (change_product without add_product) see every field read-only
except the promotion flags; on prices they edit only the sale fields.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateFilter, RelatedDropdownFilter

from apps.catalog import services
from apps.catalog.models import Brand, Category, MarketPrice, Product, ProductSalesDaily, Sku
from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell, money_cell

PROMOTION_FIELDS = ("rocket_delivery", "is_featured")
SALE_FIELDS = ("sale_price", "sale_starts_at", "sale_ends_at")


@admin.register(Category)
class CategoryAdmin(ModelAdmin, TranslationAdmin):
    list_display = ("name", "slug", "parent", "position", "is_active")
    list_filter = ("is_active", ("parent", RelatedDropdownFilter))
    list_filter_submit = True
    list_select_related = ("parent",)
    search_fields = ("slug", "name_ko", "name_en")
    prepopulated_fields = {"slug": ("name_en",)}

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # After commit: a request between the clear and the commit would re-cache the old tree.
        transaction.on_commit(services.category_cache_clear)
        if change:
            # Switching a parent off (or on) shows or hides everything under it.
            services.category_products_reindex(category_id=obj.pk)


@admin.register(Brand)
class BrandAdmin(ModelAdmin, TranslationAdmin):
    list_display = ("name", "slug")
    search_fields = ("slug", "name_ko", "name_en")

    def save_model(self, request: HttpRequest, obj: Brand, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:  # brand names are part of its products' search documents
            services.products_reindex(product_ids=list(obj.products.values_list("pk", flat=True)))


class MarketPriceForm(forms.ModelForm):
    """The currency is always the market's (as in ``services.market_price_set``), and the
    sale price is checked against the list price here, because a marketing manager's form
    has no list price field and Django then skips the CHECK constraint that names it (the
    database would refuse the save with a 500)."""

    class Meta:
        model = MarketPrice
        fields = ("sku", "market", "list_price", *SALE_FIELDS)

    MINOR_UNITS_HELP = _(
        "In the market's minor units: won as they are (52100 = ₩52,100), dollars in cents (4099 = $40.99)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("list_price", "sale_price"):
            if name in self.fields:
                self.fields[name].help_text = self.MINOR_UNITS_HELP

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        market = data.get("market") or getattr(self.instance, "market", None)
        if market is not None:
            self.instance.currency = market.currency
        list_price = data.get("list_price", self.instance.list_price)
        sale_price = data.get("sale_price", self.instance.sale_price)
        if sale_price is not None and list_price is not None and not 0 <= sale_price <= list_price:
            self.add_error(
                "sale_price" if "sale_price" in self.fields else None,
                forms.ValidationError(
                    _("The sale price must be between 0 and the list price (%(list_price)s)."),
                    code="sale_price_range",
                    params={"list_price": list_price},
                ),
            )
        starts = data.get("sale_starts_at", self.instance.sale_starts_at)
        ends = data.get("sale_ends_at", self.instance.sale_ends_at)
        if starts and ends and starts >= ends:
            self.add_error(
                "sale_ends_at" if "sale_ends_at" in self.fields else None,
                forms.ValidationError(_("The sale must end after it starts."), code="sale_window"),
            )
        return data


class MarketPriceInline(TabularInline):
    model = MarketPrice
    form = MarketPriceForm
    extra = 0
    fields = ("market", "currency", "list_price", *SALE_FIELDS)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if request.user.has_perm("catalog.add_marketprice"):
            return ("currency",)
        return ("market", "currency", "list_price")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("catalog.add_marketprice")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("catalog.delete_marketprice")


class SkuInline(TabularInline):
    model = Sku
    extra = 0
    fields = ("code", "options", "position", "is_active")
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if request.user.has_perm("catalog.add_product") else self.fields


@admin.register(Product)
class ProductAdmin(ModelAdmin, TranslationAdmin):
    list_display = (
        "id",
        "name",
        "brand",
        "category",
        "prices",
        "rocket_delivery",
        "is_featured",
        "is_active",
        "updated",
    )
    list_display_links = ("id", "name")
    list_filter = (
        "is_active",
        "rocket_delivery",
        "is_featured",
        ("category", RelatedDropdownFilter),
        ("brand", RelatedDropdownFilter),
    )
    list_filter_submit = True
    search_fields = ("name_ko", "name_en", "skus__code", "brand__name_ko", "brand__name_en")
    list_select_related = ("category", "brand")
    autocomplete_fields = ("category", "brand")
    inlines = (SkuInline,)
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return super().get_queryset(request).prefetch_related("listings")

    @admin.display(description=_("Price"))
    def prices(self, obj: Product) -> str:
        """What shoppers pay now in each market (the listings), e.g. ``₩52,100 · $40.99``."""
        listings = sorted(obj.listings.all(), key=lambda listing: listing.market_id)
        cells = [money_cell(listing.price, listing.currency) for listing in listings]
        return " · ".join(cell for cell in cells if cell) or "-"

    @admin.display(description=_("updated at"), ordering="updated_at")
    def updated(self, obj: Product) -> str | None:
        return datetime_cell(obj.updated_at)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        """Without ``add_product`` (marketing) only the promotion flags stay editable."""
        if request.user.has_perm("catalog.add_product"):
            return ("created_at", "updated_at")
        skip = {*PROMOTION_FIELDS, "name", "description"}  # originals: their _ko/_en columns are shown
        fields = [f.name for f in Product._meta.fields if f.editable and f.name not in skip]
        return tuple(dict.fromkeys([*fields, "created_at", "updated_at"]))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.products_reindex(product_ids=[form.instance.pk])


@admin.register(Sku)
class SkuAdmin(ModelAdmin):
    list_display = ("code", "product", "option_values", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "product__name_ko", "product__name_en")
    list_select_related = ("product",)

    @admin.display(description=_("option values"))
    def option_values(self, obj: Sku) -> str:
        return ", ".join(f"{key}: {value}" for key, value in (obj.options or {}).items()) or "-"

    autocomplete_fields = ("product",)
    inlines = (MarketPriceInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (
            ()
            if request.user.has_perm("catalog.add_sku")
            else ("product", "code", "options", "position", "is_active")
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.listings_refresh(product_ids=[form.instance.product_id])

    def delete_model(self, request: HttpRequest, obj: Sku) -> None:
        super().delete_model(request, obj)
        services.listings_refresh(product_ids=[obj.product_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Sku]) -> None:
        product_ids = list(queryset.values_list("product_id", flat=True))
        super().delete_queryset(request, queryset)
        services.listings_refresh(product_ids=product_ids)


class SaleFilter(admin.SimpleListFilter):
    title = _("sale")
    parameter_name = "sale"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("now", _("On sale now")), ("scheduled", _("Sale scheduled")), ("none", _("No sale"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MarketPrice]) -> QuerySet[MarketPrice]:
        now = timezone.now()
        started = Q(sale_starts_at__isnull=True) | Q(sale_starts_at__lte=now)
        not_ended = Q(sale_ends_at__isnull=True) | Q(sale_ends_at__gt=now)
        if self.value() == "now":
            return queryset.filter(started & not_ended, sale_price__isnull=False)
        if self.value() == "scheduled":
            return queryset.filter(sale_price__isnull=False, sale_starts_at__gt=now)
        if self.value() == "none":
            return queryset.filter(sale_price__isnull=True)
        return queryset


@admin.register(MarketPrice)
class MarketPriceAdmin(ModelAdmin):
    form = MarketPriceForm
    list_display = (
        "product",
        "sku_code",
        "market",
        "list_price_display",
        "sale_price_display",
        "sale_window",
    )
    list_display_links = ("product", "sku_code")
    list_filter = ("market", SaleFilter)
    search_fields = ("sku__code", "sku__product__name_ko", "sku__product__name_en")
    list_select_related = ("sku__product", "market")
    autocomplete_fields = ("sku",)
    ordering = ("sku__product__name", "sku__code", "market")

    @admin.display(description=_("product"), ordering="sku__product__name")
    def product(self, obj: MarketPrice) -> str:
        return obj.sku.product.name

    @admin.display(description=_("SKU code"), ordering="sku__code")
    def sku_code(self, obj: MarketPrice) -> str:
        return obj.sku.code

    @admin.display(description=_("list price"), ordering="list_price")
    def list_price_display(self, obj: MarketPrice) -> str | None:
        return money_cell(obj.list_price, obj.currency)

    @admin.display(description=_("sale price"), ordering="sale_price")
    def sale_price_display(self, obj: MarketPrice) -> str | None:
        return money_cell(obj.sale_price, obj.currency)

    @admin.display(description=_("sale period"), ordering="sale_starts_at")
    def sale_window(self, obj: MarketPrice) -> str | None:
        """In the admin's zone, named: the zone the form's date fields are typed in."""
        if obj.sale_starts_at is None and obj.sale_ends_at is None:
            return None
        return f"{datetime_cell(obj.sale_starts_at) or ''} – {datetime_cell(obj.sale_ends_at) or ''}"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if request.user.has_perm("catalog.add_marketprice"):
            return ("currency",)
        return ("sku", "market", "currency", "list_price")

    def save_model(self, request: HttpRequest, obj: MarketPrice, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.listings_refresh(product_ids=[obj.sku.product_id])

    def delete_model(self, request: HttpRequest, obj: MarketPrice) -> None:
        product_id = obj.sku.product_id
        super().delete_model(request, obj)
        services.listings_refresh(product_ids=[product_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MarketPrice]) -> None:
        product_ids = list(queryset.values_list("sku__product_id", flat=True))
        super().delete_queryset(request, queryset)
        services.listings_refresh(product_ids=product_ids)


@admin.register(ProductSalesDaily)
class ProductSalesDailyAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """An aggregate the popularity job writes: read-only for everyone."""

    list_display = ("product", "market", "date", "units")
    list_filter = ("market", ("date", RangeDateFilter))
    list_filter_submit = True
    search_fields = ("product__name_ko", "product__name_en")
    list_select_related = ("product",)
    ordering = ("-date", "-units")
