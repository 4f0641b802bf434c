"""Markets and FX rates (ops): markets come from migrations and are edited, never added."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from unfold.admin import ModelAdmin

from apps.core.admin_display import datetime_cell, money_cell
from apps.markets.models import FxRate, Market
from apps.markets.services import markets_cache_clear


@admin.register(Market)
class MarketAdmin(ModelAdmin, TranslationAdmin):
    list_display = (
        "code",
        "name",
        "currency",
        "default_locale",
        "time_zone",
        "tax_mode",
        "tax",
        "shipping",
        "free_shipping",
        "is_active",
    )
    readonly_fields = ("code", "currency", "updated")
    fieldsets = (
        (None, {"fields": ("code", "name", "currency", "default_locale", "time_zone", "is_active")}),
        (_("Money"), {"fields": ("rounding_increment", "rounding_mode", "tax_mode", "tax_rate")}),
        (_("Shipping"), {"fields": ("shipping_fee", "free_shipping_threshold")}),
        (
            _("Policies"),
            {
                "fields": (
                    "reservation_ttl_minutes",
                    "return_window_days",
                    "e_receipt_required",
                    "cancellation_policy",
                )
            },
        ),
        (
            _("Wallet"),
            {"fields": ("wallet_top_up_limit", "wallet_top_up_daily_limit", "wallet_adjustment_limit")},
        ),
        (None, {"fields": ("updated",)}),
    )

    @admin.display(description=_("updated at"))
    def updated(self, obj: Market) -> str | None:
        return datetime_cell(obj.updated_at)

    @admin.display(description=_("tax rate"), ordering="tax_rate")
    def tax(self, obj: Market) -> str:
        # float: a Decimal keeps its trailing zeros under "g" ("10.0000%")
        return f"{float(obj.tax_rate * 100):g}%"

    @admin.display(description=_("shipping fee"))
    def shipping(self, obj: Market) -> str | None:
        return money_cell(obj.shipping_fee, obj.currency)

    @admin.display(description=_("free shipping from"))
    def free_shipping(self, obj: Market) -> str | None:
        return money_cell(obj.free_shipping_threshold, obj.currency)

    def has_add_permission(self, request: HttpRequest) -> bool:  # markets come from migrations
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Market, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        markets_cache_clear()


@admin.register(FxRate)
class FxRateAdmin(ModelAdmin):
    list_display = ("base_currency", "quote_currency", "rate", "valid", "source")
    list_filter = ("base_currency", "quote_currency")
    date_hierarchy = "valid_from"

    @admin.display(description=_("valid from"), ordering="valid_from")
    def valid(self, obj: FxRate) -> str | None:
        return datetime_cell(obj.valid_from)
