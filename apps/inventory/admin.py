"""Warehouses and stock levels for inventory managers (audited adjustments come with the
next issue; until then ``on_hand``/``reserved`` are edited here, guarded by the DB CHECK)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.inventory.models import StockLevel, Warehouse


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "market", "priority", "is_active")
    list_filter = ("market", "is_active")
    search_fields = ("code", "name")


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = ("sku", "warehouse", "on_hand", "reserved", "available", "updated_at")
    list_filter = ("warehouse__market", "warehouse")
    search_fields = ("sku__code",)
    list_select_related = ("sku", "warehouse")
    autocomplete_fields = ("sku",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Reservations belong to checkout: nobody edits ``reserved`` by hand once a row exists.
        return (
            ("sku", "warehouse", "reserved", "updated_at") if obj is not None else ("reserved", "updated_at")
        )

    @admin.display(description="available")
    def available(self, obj: StockLevel) -> int:
        return obj.available
