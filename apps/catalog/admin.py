"""Catalog back office: ko/en fields side by side (modeltranslation's TranslationAdmin; the
tabbed variant loads jQuery UI from a CDN, and deployments may be closed networks), SKU and
price inlines. Saves go through the catalog services' re-index so the search
document and listings never drift from what staff edit.

Marketing managers (change_product without add_product) see every field read-only
except the promotion flags; on prices they edit only the sale fields.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from apps.catalog import services
from apps.catalog.models import Brand, Category, MarketPrice, Product, ProductSalesDaily, Sku

PROMOTION_FIELDS = ("rocket_delivery", "is_featured")
SALE_FIELDS = ("sale_price", "sale_starts_at", "sale_ends_at")


@admin.register(Category)
class CategoryAdmin(TranslationAdmin):
    list_display = ("name", "slug", "parent", "position", "is_active")
    list_filter = ("is_active", "parent")
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
class BrandAdmin(TranslationAdmin):
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


class MarketPriceInline(admin.TabularInline):
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


class SkuInline(admin.TabularInline):
    model = Sku
    extra = 0
    fields = ("code", "options", "position", "is_active")
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if request.user.has_perm("catalog.add_product") else self.fields


@admin.register(Product)
class ProductAdmin(TranslationAdmin):
    list_display = (
        "id",
        "name",
        "category",
        "brand",
        "rocket_delivery",
        "is_featured",
        "is_active",
        "updated_at",
    )
    list_filter = ("is_active", "rocket_delivery", "is_featured", "category")
    search_fields = ("name_ko", "name_en", "skus__code")
    list_select_related = ("category", "brand")
    autocomplete_fields = ("category", "brand")
    inlines = (SkuInline,)
    readonly_fields = ("created_at", "updated_at")

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
class SkuAdmin(admin.ModelAdmin):
    list_display = ("code", "product", "options", "is_active")
    search_fields = ("code", "product__name_ko", "product__name_en")
    list_select_related = ("product",)
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


@admin.register(MarketPrice)
class MarketPriceAdmin(admin.ModelAdmin):
    form = MarketPriceForm
    list_display = ("sku", "market", "list_price", "sale_price", "sale_starts_at", "sale_ends_at", "currency")
    list_filter = ("market",)
    search_fields = ("sku__code",)
    list_select_related = ("sku",)
    autocomplete_fields = ("sku",)

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
class ProductSalesDailyAdmin(admin.ModelAdmin):
    list_display = ("product", "market", "date", "units")
    list_filter = ("market", "date")
    list_select_related = ("product",)
    raw_id_fields = ("product",)
