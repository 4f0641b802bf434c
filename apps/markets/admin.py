from django.contrib import admin
from modeltranslation.admin import TranslationAdmin

from apps.markets.models import FxRate, Market
from apps.markets.services import markets_cache_clear


@admin.register(Market)
class MarketAdmin(TranslationAdmin):
    list_display = (
        "code",
        "name",
        "currency",
        "default_locale",
        "time_zone",
        "tax_mode",
        "tax_rate",
        "is_active",
    )
    readonly_fields = ("code", "currency", "updated_at")
    fieldsets = (
        (None, {"fields": ("code", "name", "currency", "default_locale", "time_zone", "is_active")}),
        ("Money", {"fields": ("rounding_increment", "rounding_mode", "tax_mode", "tax_rate")}),
        ("Shipping", {"fields": ("shipping_fee", "free_shipping_threshold")}),
        (
            "Policies",
            {
                "fields": (
                    "reservation_ttl_minutes",
                    "return_window_days",
                    "e_receipt_required",
                    "cancellation_policy",
                )
            },
        ),
        (None, {"fields": ("updated_at",)}),
    )

    def has_add_permission(self, request):  # markets come from migrations, with code
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        markets_cache_clear()


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    list_display = ("base_currency", "quote_currency", "rate", "valid_from", "source")
    list_filter = ("base_currency", "quote_currency")
    date_hierarchy = "valid_from"
