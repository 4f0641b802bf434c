"""Coupon campaigns, the coupons members claim, and every use of a coupon.

Invariant (DESIGN.md §7 "Coupons"): a limited campaign never issues more than
``total_quantity`` coupons. ``issued_count`` moves only by a conditional ``UPDATE ... WHERE
issued_count < total_quantity`` in the same transaction as the coupon row, and a CHECK is
the backstop; ``UNIQUE (campaign, user, seq)`` keeps a member within ``per_user_limit``
(``seq`` counts 1..limit). With Redis, a Lua gate answers sold-out and duplicate claims
before the database (``services.gate``); the database stays the truth.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Campaign(models.Model):
    class DiscountType(models.TextChoices):
        FIXED = "fixed", _("Fixed amount")
        PERCENT = "percent", _("Percentage")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    name_ko = models.CharField(_("name (Korean)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    discount_type = models.CharField(_("discount type"), max_length=16, choices=DiscountType.choices)
    #: Fixed: minor units of ``currency``. Percent: 1..100.
    discount_value = models.PositiveBigIntegerField(_("discount"))
    #: Percent campaigns: the most one order saves (minor units of ``currency``).
    max_discount = models.PositiveBigIntegerField(_("largest discount"), null=True, blank=True)
    min_order_amount = models.PositiveBigIntegerField(_("minimum order amount"), default=0)
    #: The currency of every amount above; a campaign with amounts runs in one market.
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    markets = models.ManyToManyField("markets.Market", verbose_name=_("markets"), related_name="+")
    categories = models.ManyToManyField(
        "catalog.Category", verbose_name=_("eligible categories"), blank=True, related_name="+"
    )
    products = models.ManyToManyField(
        "catalog.Product", verbose_name=_("eligible products"), blank=True, related_name="+"
    )
    excluded_products = models.ManyToManyField(
        "catalog.Product", verbose_name=_("excluded products"), blank=True, related_name="+"
    )
    #: ``None``: unlimited.
    total_quantity = models.PositiveIntegerField(_("coupons in total"), null=True, blank=True)
    issued_count = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    per_user_limit = models.PositiveSmallIntegerField(_("coupons per member"), default=1)
    uses_per_coupon = models.PositiveSmallIntegerField(_("uses per coupon"), default=1)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    #: A claimed coupon is valid this many days (never past ``ends_at``); ``None``: until the end.
    valid_days = models.PositiveSmallIntegerField(_("valid for days after claim"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("coupon campaign")
        verbose_name_plural = _("coupon campaigns")
        ordering = ["-starts_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_quantity__isnull=True) | Q(issued_count__lte=F("total_quantity")),
                name="coupons_campaign_never_over_issued",
            ),
            models.CheckConstraint(
                condition=Q(discount_value__gte=1), name="coupons_campaign_discount_positive"
            ),
            models.CheckConstraint(
                condition=~Q(discount_type="percent") | Q(discount_value__lte=100),
                name="coupons_campaign_percent_max_100",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="coupons_campaign_window_ordered"
            ),
            models.CheckConstraint(
                condition=Q(per_user_limit__gte=1), name="coupons_campaign_per_user_positive"
            ),
            models.CheckConstraint(
                condition=Q(uses_per_coupon__gte=1), name="coupons_campaign_uses_positive"
            ),
        ]
        indexes = [models.Index(fields=["status", "ends_at"], name="coupons_campaign_status_idx")]

    def __str__(self) -> str:
        return self.name_en or self.name_ko

    def name(self, language: str | None) -> str:
        return self.name_ko if (language or "").startswith("ko") else self.name_en

    @property
    def remaining(self) -> int | None:
        return None if self.total_quantity is None else max(self.total_quantity - self.issued_count, 0)


class Coupon(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", _("Ready to use")
        RESERVED = "reserved", _("Held by an order")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="coupons"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="coupons"
    )
    #: 1..campaign.per_user_limit: the n-th coupon of this campaign for this member.
    seq = models.PositiveSmallIntegerField(_("number"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ISSUED)
    uses_left = models.PositiveSmallIntegerField(_("uses left"))
    expires_at = models.DateTimeField(_("expires"))
    #: The order holding it (``order:<uuid>``) while ``reserved``.
    held_by = models.CharField(_("held by"), max_length=80, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    revoke_reason = models.CharField(_("revoke reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-claimed_at", "-pk"]
        permissions = [("revoke_coupon", _("Can revoke unused coupons"))]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "user", "seq"], name="coupons_coupon_per_user_seq_uniq"
            ),
            models.UniqueConstraint(
                fields=["user", "campaign", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="coupons_coupon_user_key_uniq",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="coupons_coupon_seq_positive"),
        ]
        indexes = [
            models.Index(fields=["user", "status", "-claimed_at"], name="coupons_coupon_user_idx"),
            models.Index(fields=["campaign", "status"], name="coupons_coupon_campaign_idx"),
            models.Index(fields=["held_by"], condition=~Q(held_by=""), name="coupons_coupon_held_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.user_id}#{self.seq}"


class CouponUse(models.Model):
    """Usage history: which order held, used or released a coupon, when, for how much."""

    class Status(models.TextChoices):
        HELD = "held", _("Held")
        USED = "used", _("Used")
        RELEASED = "released", _("Released")
        RESTORED = "restored", _("Restored")

    coupon = models.ForeignKey(
        Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, related_name="uses"
    )
    owner = models.CharField(_("order"), max_length=80)
    order_number = models.CharField(_("order number"), max_length=32, blank=True)
    discount = models.BigIntegerField(_("discount"))
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("coupon use")
        verbose_name_plural = _("coupon usage history")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["owner"], name="coupons_use_owner_idx")]

    def __str__(self) -> str:
        return f"{self.coupon_id} {self.status} {self.owner}"
