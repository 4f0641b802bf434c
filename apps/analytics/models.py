"""Daily aggregates: derived rows, rebuilt from orders, refunds and coupons by
``services.aggregates_rebuild`` (never edited by hand). "Daily" is the market's local day
(DESIGN.md §5); money is integer minor units of the market's currency.

The accounting rules (how a row is computed) are in ``services``' module docstring.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

#: ``usage_rate`` is shown with this many decimals (0.1234 = 12.34 %).
RATE_QUANTUM = Decimal("0.0001")


class DailySales(models.Model):
    """One market's sales on one of its local days."""

    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="+"
    )
    date = models.DateField(_("date"))
    currency = models.CharField(_("currency"), max_length=3)
    orders = models.PositiveIntegerField(_("orders"), default=0)
    gross = models.BigIntegerField(_("gross sales"), default=0)
    discounts = models.BigIntegerField(_("discounts"), default=0)
    refunds = models.BigIntegerField(_("refunds"), default=0)
    net = models.BigIntegerField(_("net sales"), default=0)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("daily sales")
        verbose_name_plural = _("daily sales")
        ordering = ["-date", "market"]
        constraints = [
            models.UniqueConstraint(fields=["market", "date"], name="analytics_dailysales_market_date_uniq"),
            models.CheckConstraint(
                condition=Q(gross__gte=0) & Q(discounts__gte=0) & Q(refunds__gte=0),
                name="analytics_dailysales_amounts_nonnegative",
            ),
        ]
        indexes = [models.Index(fields=["date"], name="analytics_sales_date_idx")]

    def __str__(self) -> str:
        return f"{self.market_id} {self.date}"


class CouponUsageDaily(models.Model):
    """One campaign's coupons issued and used on one local day of its market."""

    campaign = models.ForeignKey(
        "coupons.Campaign", verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="+"
    )
    #: Whose local day this is: the campaign's market (the first by code when it runs in several).
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="+"
    )
    date = models.DateField(_("date"))
    issued = models.PositiveIntegerField(_("issued"), default=0)
    used = models.PositiveIntegerField(_("used"), default=0)
    issued_to_date = models.PositiveIntegerField(_("issued to date"), default=0)
    used_to_date = models.PositiveIntegerField(_("used to date"), default=0)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("daily coupon usage")
        verbose_name_plural = _("daily coupon usage")
        ordering = ["-date", "campaign"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "date"], name="analytics_couponusage_campaign_date_uniq"
            ),
        ]
        indexes = [models.Index(fields=["market", "date"], name="analytics_coupon_market_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.date}"

    @property
    def usage_rate(self) -> Decimal | None:
        return usage_rate(used=self.used_to_date, issued=self.issued_to_date)


def usage_rate(*, used: int, issued: int) -> Decimal | None:
    """Uses so far per coupon issued so far, to 4 decimals (half up); ``None`` before the
    first coupon. Above 1 only for coupons with several uses."""
    if issued <= 0:
        return None
    return (Decimal(used) / Decimal(issued)).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)
