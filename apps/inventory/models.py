"""Warehouses, stock levels, reservations and the stock ledger (issue 17, ADR 0006).

Invariants, each held by the database where it can be:
* ``0 <= reserved <= on_hand`` on every stock level (CHECK);
* ``on_hand`` equals the sum of its ``StockMovement.delta`` (append-only ledger; checked by
  ``manage.py inventory_reconcile`` and the tests); each movement's
  ``on_hand_after = on_hand_before + delta`` (CHECK);
* ``reserved`` equals the quantity of the level's active reservations (reconcile).
Rows change only through ``apps.inventory.services``."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Warehouse(models.Model):
    """A stock location serving one market; lower ``priority`` is drawn from first."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="warehouses"
    )
    priority = models.PositiveIntegerField(_("priority"), default=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["market_id", "priority", "id"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")

    def __str__(self) -> str:
        return f"{self.code} ({self.market_id})"


class StockLevel(models.Model):
    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="stock_levels"
    )
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="stock_levels"
    )
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    low_stock_threshold = models.PositiveIntegerField(
        _("low-stock threshold"),
        null=True,
        blank=True,
        help_text=_("At or below this many available units the row is low on stock; empty: the default."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        constraints = [
            models.UniqueConstraint(fields=["sku", "warehouse"], name="inventory_stocklevel_sku_wh_uniq"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0) & Q(reserved__lte=F("on_hand")),
                name="inventory_stocklevel_reserved_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.warehouse_id}: {self.on_hand}/{self.reserved}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    """Units of one SKU held in one warehouse for an owner (a cart, an order) until
    ``expires_at``. Status moves active -> committed | released | expired, each change a
    compare-and-set on ``status`` (a replayed task or a second worker is a no-op).
    An active row past ``expires_at`` no longer counts as held (expiry by predicate):
    the sweep or the next short reserve releases it."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMMITTED = "committed", _("Committed")
        RELEASED = "released", _("Released")
        EXPIRED = "expired", _("Expired")

    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="reservations"
    )
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="reservations"
    )
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="reservations"
    )
    owner = models.CharField(_("owner"), max_length=80, help_text=_('e.g. "order:123" or "cart:abc"'))
    quantity = models.PositiveIntegerField(_("quantity"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField(_("expires at"))
    release_reason = models.CharField(_("release reason"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        indexes = [
            models.Index(fields=["owner"], name="inventory_resv_owner_idx"),
            models.Index(fields=["status", "expires_at"], name="inventory_resv_status_exp_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="inventory_reservation_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner}: {self.quantity} x {self.sku_id}@{self.warehouse_id} ({self.status})"


#: Reasons the services write themselves. They are stored in English (the ledger is
#: data, not one reader's language) and shown translated by ``StockMovement.reason_display``;
#: a reason typed by staff is shown as typed.
SYSTEM_REASONS = {
    "Opening count": _("Opening count"),
    "Opening balance": _("Opening balance"),
    "Count corrected": _("Count corrected"),
    "Sale committed": _("Sale committed"),
}


class StockMovement(models.Model):
    """One change of a stock level's ``on_hand``: the append-only stock ledger.

    Written only by the services, in the transaction that moved the stock; never updated or
    deleted (no service does, the admin and the API offer no way to)."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", _("Receipt")
        CORRECTION = "correction", _("Correction")
        DAMAGE = "damage", _("Damage")
        RETURN = "return", _("Return")
        TRANSFER_IN = "transfer_in", _("Transfer in")
        TRANSFER_OUT = "transfer_out", _("Transfer out")
        COMMIT = "commit", _("Sale (committed reservation)")

    stock_level = models.ForeignKey(
        StockLevel, verbose_name=_("stock level"), on_delete=models.PROTECT, related_name="movements"
    )
    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="stock_movements"
    )
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="stock_movements"
    )
    delta = models.IntegerField(_("change"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    on_hand_before = models.IntegerField(_("on hand before"))
    on_hand_after = models.IntegerField(_("on hand after"))
    reason = models.CharField(_("reason"), max_length=500)
    reference = models.CharField(_("reference"), max_length=120, blank=True, default="")
    actor = models.ForeignKey(
        "accounts.User",
        verbose_name=_("actor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stock_movements",
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        # In the ledger's order (newest first), so a page of one SKU's or one warehouse's
        # movements is read straight from the index, not sorted from all of them.
        indexes = [
            models.Index(fields=["sku", "-created_at", "-id"], name="inventory_mv_sku_time_idx"),
            models.Index(fields=["warehouse", "-created_at", "-id"], name="inventory_mv_wh_time_idx"),
            models.Index(fields=["-created_at", "-id"], name="inventory_mv_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0), name="inventory_movement_delta_nonzero"),
            models.CheckConstraint(
                condition=Q(on_hand_after=F("on_hand_before") + F("delta")),
                name="inventory_movement_after_is_before_plus_delta",
            ),
            models.CheckConstraint(
                condition=Q(on_hand_before__gte=0) & Q(on_hand_after__gte=0),
                name="inventory_movement_never_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.delta:+d} {self.sku_id}@{self.warehouse_id}"

    @property
    def reason_display(self) -> str:
        """The reason in the active language when a service wrote it (``SYSTEM_REASONS``)."""
        return str(SYSTEM_REASONS.get(self.reason, self.reason))
