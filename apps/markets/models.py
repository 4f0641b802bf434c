"""Markets (KR, US) with their money, tax, shipping and regulation policies; FX rates."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.money import Money
from apps.core.rounding import RoundingMode


class Market(models.Model):
    """A country storefront. ``code`` (ISO 3166-1 alpha-2) is the primary key, so
    foreign keys read ``market_id == "KR"``. Seeded by migration; ops edit the policies."""

    class TaxMode(models.TextChoices):
        INCLUSIVE = "inclusive", _("Prices include tax")
        EXCLUSIVE = "exclusive", _("Tax added at checkout")

    class CancellationPolicy(models.TextChoices):
        BEFORE_SHIPMENT = "before_shipment", _("Cancellable until shipped")
        BEFORE_PAYMENT = "before_payment", _("Cancellable until paid")

    code = models.CharField(_("code"), max_length=2, primary_key=True)
    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3)
    default_locale = models.CharField(
        _("default language"), max_length=5, choices=[("ko", "한국어"), ("en", "English")]
    )
    time_zone = models.CharField(_("time zone"), max_length=64)
    rounding_increment = models.PositiveIntegerField(
        _("rounding increment (minor units)"), validators=[MinValueValidator(1)], default=1
    )
    rounding_mode = models.CharField(
        _("rounding mode"), max_length=16, choices=RoundingMode.choices, default=RoundingMode.HALF_UP
    )
    tax_mode = models.CharField(_("tax mode"), max_length=16, choices=TaxMode.choices)
    tax_rate = models.DecimalField(
        _("tax rate"), max_digits=6, decimal_places=4, default=Decimal("0"), help_text=_("0.1 = 10%")
    )
    shipping_fee = models.PositiveIntegerField(_("shipping fee (minor units)"), default=0)
    free_shipping_threshold = models.PositiveIntegerField(_("free shipping from (minor units)"), default=0)
    reservation_ttl_minutes = models.PositiveIntegerField(
        _("stock reservation TTL (minutes)"), default=15, validators=[MinValueValidator(1)]
    )
    return_window_days = models.PositiveIntegerField(_("return window (days)"), default=7)
    e_receipt_required = models.BooleanField(_("e-receipt required"), default=False)
    cancellation_policy = models.CharField(
        _("cancellation policy"),
        max_length=32,
        choices=CancellationPolicy.choices,
        default=CancellationPolicy.BEFORE_SHIPMENT,
    )
    # Wallet policy (issue 19), in the market's minor units.
    wallet_top_up_limit = models.PositiveBigIntegerField(
        _("largest wallet top-up (minor units)"), default=1_000_000, validators=[MinValueValidator(1)]
    )
    wallet_top_up_daily_limit = models.PositiveBigIntegerField(
        _("wallet top-ups per day (minor units)"),
        default=2_000_000,
        validators=[MinValueValidator(1)],
        help_text=_("The most one member may top up in a day of the market's time zone."),
    )
    wallet_adjustment_limit = models.PositiveBigIntegerField(
        _("largest wallet adjustment by customer service (minor units)"),
        default=50_000,
        help_text=_("Operations staff are not limited."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Django's default manager, declared for type checkers: modeltranslation swaps in a
    # class built at runtime (a multilingual subclass) that django-stubs cannot resolve.
    objects: ClassVar[models.Manager[Market]]

    class Meta:
        ordering = ["code"]
        verbose_name = _("market")
        verbose_name_plural = _("markets")
        constraints = [
            models.CheckConstraint(
                condition=Q(tax_rate__gte=0) & Q(tax_rate__lt=1), name="markets_market_tax_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"

    def money(self, amount: int) -> Money:
        return Money(amount, self.currency)

    @property
    def shipping_fee_money(self) -> Money:
        return Money(self.shipping_fee, self.currency)

    @property
    def free_shipping_threshold_money(self) -> Money:
        return Money(self.free_shipping_threshold, self.currency)


class FxRate(models.Model):
    """``1 base = rate quote`` from ``valid_from`` on; the newest valid row wins."""

    base_currency = models.CharField(_("base currency"), max_length=3)
    quote_currency = models.CharField(_("quote currency"), max_length=3)
    rate = models.DecimalField(_("rate"), max_digits=20, decimal_places=8)
    valid_from = models.DateTimeField(_("valid from"))
    source = models.CharField(_("source"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-valid_from"]
        verbose_name = _("FX rate")
        verbose_name_plural = _("FX rates")
        indexes = [
            models.Index(
                fields=["base_currency", "quote_currency", "-valid_from"], name="markets_fx_pair_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gt=0), name="markets_fxrate_rate_positive"),
            models.UniqueConstraint(
                fields=["base_currency", "quote_currency", "valid_from"], name="markets_fxrate_pair_from_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.base_currency} = {self.rate} {self.quote_currency} ({self.valid_from:%Y-%m-%d})"
