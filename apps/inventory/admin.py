"""Warehouses and stock levels for inventory managers. Audited adjustments (with kinds
and reasons) come with the next issue; until then ``on_hand`` is corrected here, through
``services.stock_level_on_hand_set`` (a conditional UPDATE that never writes ``reserved``),
and the admin log records the old and new quantity."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RelatedDropdownFilter

from apps.core.admin_display import datetime_cell
from apps.core.errors import DomainError
from apps.inventory import services
from apps.inventory.errors import StockChanged
from apps.inventory.models import StockLevel, Warehouse


@admin.register(Warehouse)
class WarehouseAdmin(ModelAdmin):
    list_display = ("code", "name", "market", "priority", "is_active")
    list_filter = ("market", "is_active")
    search_fields = ("code", "name")


class StockLevelForm(forms.ModelForm):
    """``reserved`` is read-only here, so Django skips the CHECK that names it: the form
    checks ``0 <= reserved <= on_hand`` itself instead of letting the database 500.
    ``expected_on_hand`` carries the quantity the editor saw, so a sale committed since
    the form was loaded is a form error, not overwritten (the service re-checks it)."""

    expected_on_hand = forms.IntegerField(
        label=_("on hand when the form was opened"), widget=forms.HiddenInput, required=False
    )

    class Meta:
        model = StockLevel
        fields = ("sku", "warehouse", "on_hand")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["expected_on_hand"].initial = self.instance.on_hand

    def clean_on_hand(self) -> int:
        on_hand = self.cleaned_data["on_hand"]
        reserved = self.instance.reserved or 0
        if on_hand < reserved:
            raise forms.ValidationError(
                _("On hand cannot be below the %(reserved)s reserved units."),
                code="below_reserved",
                params={"reserved": reserved},
            )
        return on_hand

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        expected = cleaned.get("expected_on_hand")
        if self.instance.pk is not None and expected is not None and expected != self.instance.on_hand:
            self.add_error("on_hand", StockChanged(on_hand=self.instance.on_hand, expected=expected).detail)
        return cleaned


class AvailabilityFilter(admin.SimpleListFilter):
    title = _("availability")
    parameter_name = "availability"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("out", _("Out of stock")), ("low", _("Low stock")), ("in", _("In stock"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StockLevel]) -> QuerySet[StockLevel]:
        available = F("on_hand") - F("reserved")
        low = settings.CATALOG_LOW_STOCK_THRESHOLD
        queryset = queryset.alias(free=available)
        if self.value() == "out":
            return queryset.filter(free__lte=0)
        if self.value() == "low":
            return queryset.filter(free__gt=0, free__lte=low)
        if self.value() == "in":
            return queryset.filter(free__gt=low)
        return queryset


@admin.register(StockLevel)
class StockLevelAdmin(ModelAdmin):
    form = StockLevelForm
    list_display = ("product", "sku_code", "warehouse", "on_hand", "reserved", "available", "updated")
    list_display_links = ("product", "sku_code")
    list_filter = (
        "warehouse__market",
        ("warehouse", RelatedDropdownFilter),
        AvailabilityFilter,
    )
    list_filter_submit = True
    search_fields = ("sku__code", "sku__product__name_ko", "sku__product__name_en", "warehouse__code")
    list_select_related = ("sku__product", "warehouse")
    autocomplete_fields = ("sku",)
    ordering = ("sku__product__name", "sku__code", "warehouse__priority")

    @admin.display(description=_("product"), ordering="sku__product__name")
    def product(self, obj: StockLevel) -> str:
        return str(obj.sku.product.name)

    @admin.display(description=_("SKU code"), ordering="sku__code")
    def sku_code(self, obj: StockLevel) -> str:
        return str(obj.sku.code)

    @admin.display(description=_("updated at"), ordering="updated_at")
    def updated(self, obj: StockLevel) -> str | None:
        return datetime_cell(obj.updated_at)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Reservations belong to checkout: nobody edits ``reserved`` by hand once a row exists.
        return (
            ("sku", "warehouse", "reserved", "updated_at") if obj is not None else ("reserved", "updated_at")
        )

    @admin.display(description=_("available"))
    def available(self, obj: StockLevel) -> int:
        return obj.available

    def save_model(self, request: HttpRequest, obj: StockLevel, form: Any, change: bool) -> None:
        if not change:
            # The form's unique check catches the usual duplicate; a concurrent "add" of the
            # same SKU and warehouse is refused by the service, never overwritten.
            obj.pk = services.stock_level_create(
                sku_id=obj.sku_id, warehouse=obj.warehouse, on_hand=obj.on_hand
            ).pk
            return
        try:
            services.stock_level_on_hand_set(
                level_id=obj.pk,
                on_hand=obj.on_hand,
                expected_on_hand=form.cleaned_data.get("expected_on_hand"),
            )
        except DomainError as exc:  # a reservation landed after the form was checked
            transaction.set_rollback(True)  # no log entry claiming a change
            request._stock_refused = True  # type: ignore[attr-defined]
            self.message_user(request, exc.detail, messages.ERROR)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        """Name the quantity change in the log ("On hand (10 → 7)"), not just the field."""
        message = super().construct_change_message(request, form, formsets, add)
        if not add and "on_hand" in form.changed_data:
            with translation.override(None):  # Django logs labels untranslated
                label = str(form.fields["on_hand"].label)
            for part in message:
                fields = part.get("changed", {}).get("fields")
                if fields:
                    part["changed"]["fields"] = [
                        f"{f} ({form.initial['on_hand']} → {form.cleaned_data['on_hand']})"
                        if f == label
                        else f
                        for f in fields
                    ]
        return message

    def response_change(self, request: HttpRequest, obj: StockLevel) -> HttpResponse:
        if getattr(request, "_stock_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)
