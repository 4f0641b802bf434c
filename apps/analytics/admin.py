"""Back office: the daily aggregates, read-only for everyone (they are derived; rebuild
them with ``manage.py rebuild_aggregates``). Amounts formatted in the market's currency."""

from __future__ import annotations

from django.contrib import admin
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateFilter

from apps.accounts.admin import MarketScopedAdminMixin
from apps.analytics.models import CouponUsageDaily, DailySales
from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell, money_cell
from apps.core.admin_export import ListExportMixin, ListResource, column, utc_iso


class DailySalesExport(ListResource):
    """The daily sales list as a file (``apps.core.admin_export``): the market's local
    day as stored, amounts in minor units of the market's currency, computed at in UTC."""

    date = column(_("date (market's calendar)"), lambda d: d.date.isoformat())
    market = column(_("market"), lambda d: d.market_id)
    currency = column(_("currency"), lambda d: d.currency)
    orders = column(_("orders"), lambda d: d.orders)
    gross = column(_("gross sales (minor units)"), lambda d: d.gross)
    discounts = column(_("discounts (minor units)"), lambda d: d.discounts)
    refunds = column(_("refunds (minor units)"), lambda d: d.refunds)
    net = column(_("net sales (minor units)"), lambda d: d.net)
    computed = column(_("computed at (UTC)"), lambda d: utc_iso(d.computed_at))


class CouponUsageDailyExport(ListResource):
    """Coupon usage per campaign and day as a file; the rate as a fraction (0.1234)."""

    date = column(_("date (market's calendar)"), lambda d: d.date.isoformat())
    campaign = column(_("campaign"), lambda d: d.campaign.name(translation.get_language()))
    market = column(_("market"), lambda d: d.market_id)
    issued = column(_("issued"), lambda d: d.issued)
    used = column(_("used"), lambda d: d.used)
    issued_to_date = column(_("issued to date"), lambda d: d.issued_to_date)
    used_to_date = column(_("used to date"), lambda d: d.used_to_date)
    rate = column(_("usage rate (fraction)"), lambda d: d.usage_rate)
    computed = column(_("computed at (UTC)"), lambda d: utc_iso(d.computed_at))


@admin.register(DailySales)
class DailySalesAdmin(ListExportMixin, ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    """Sales per market-local day (ops)."""

    resource_classes = [DailySalesExport]
    export_name = "daily-sales"

    list_display = (
        "date",
        "market",
        "orders",
        "gross_cell",
        "discounts_cell",
        "refunds_cell",
        "net_cell",
        "computed",
    )
    list_display_links = None
    list_filter = ("market", ("date", RangeDateFilter))
    list_filter_submit = True
    ordering = ("-date", "market")
    date_hierarchy = None

    @admin.display(description=_("gross sales"), ordering="gross")
    def gross_cell(self, obj: DailySales) -> str | None:
        return money_cell(obj.gross, obj.currency)

    @admin.display(description=_("discounts"), ordering="discounts")
    def discounts_cell(self, obj: DailySales) -> str | None:
        return money_cell(obj.discounts, obj.currency)

    @admin.display(description=_("refunds"), ordering="refunds")
    def refunds_cell(self, obj: DailySales) -> str | None:
        return money_cell(obj.refunds, obj.currency)

    @admin.display(description=_("net sales"), ordering="net")
    def net_cell(self, obj: DailySales) -> str | None:
        return money_cell(obj.net, obj.currency)

    @admin.display(description=_("computed at"), ordering="computed_at")
    def computed(self, obj: DailySales) -> str | None:
        return datetime_cell(obj.computed_at)


@admin.register(CouponUsageDaily)
class CouponUsageDailyAdmin(ListExportMixin, ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    """Coupons issued and used per campaign and local day (marketing, ops)."""

    resource_classes = [CouponUsageDailyExport]
    export_name = "coupon-usage-daily"

    list_display = ("date", "campaign", "market", "issued", "used", "issued_to_date", "used_to_date", "rate")
    list_display_links = None
    list_filter = ("market", ("date", RangeDateFilter))
    list_filter_submit = True
    list_select_related = ("campaign",)
    search_fields = ("campaign__name_ko", "campaign__name_en")
    ordering = ("-date", "campaign")

    @admin.display(description=_("usage rate"))
    def rate(self, obj: CouponUsageDaily) -> str | None:
        rate = obj.usage_rate
        return None if rate is None else f"{rate * 100:.2f} %"
