"""Orders: what a member bought, at what price, and everything that happened to it.

An order is a snapshot (DESIGN.md §5 "Snapshots"): names in both languages, SKU, list and
sale price, and each line's share of the coupon discount, tax and shipping are copied at
placement; later catalog edits never change a past order. Money is integer minor units in
the order's currency. Lines always add up to the order (``services.allocation``).

Status moves only through ``services.transitions`` (one table of legal moves, row-locked,
compare-and-set), and every move writes an ``OrderStatusChange`` and an outbox event.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from apps.accounts.fields import EncryptedJSONField
from apps.core.money import Money


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting payment")
        PAID = "paid", _("Paid")
        FULFILLED = "fulfilled", _("Fulfilled")
        REFUNDED = "refunded", _("Refunded")
        CANCELLED = "cancelled", _("Cancelled")

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    #: People read this one: ``KR-20261130-000123`` (market, market-local date, sequence).
    number = models.CharField(_("order number"), max_length=32, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="orders"
    )
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="orders"
    )
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    #: SHA-256 of the member's ``Idempotency-Key``: the same key can never create a second
    #: order, even when the idempotency record was taken over after a crash.
    idempotency_key = models.CharField(_("idempotency key"), max_length=64)
    #: Fingerprint of what was asked (lines, coupon, address): a key sent again with another
    #: request is ``idempotency.key_reused``.
    request_hash = models.CharField(_("request fingerprint"), max_length=64)
    subtotal = models.BigIntegerField(_("subtotal"))
    sale_discount = models.BigIntegerField(_("sale discount"), default=0)
    coupon_discount = models.BigIntegerField(_("coupon discount"), default=0)
    tax = models.BigIntegerField(_("tax"), default=0)
    tax_included = models.BooleanField(_("tax included in prices"), default=False)
    shipping_fee = models.BigIntegerField(_("shipping fee"), default=0)
    total = models.BigIntegerField(_("total"))
    refunded_amount = models.BigIntegerField(_("refunded"), default=0)
    coupon_code = models.CharField(_("coupon"), max_length=64, blank=True)
    #: Placed from the member's cart: once paid, what it bought leaves the cart.
    from_cart = models.BooleanField(_("from the cart"), default=False)
    shipping_address = EncryptedJSONField(_("shipping address"), blank=True, null=True)
    expires_at = models.DateTimeField(_("pay by"))
    created_at = models.DateTimeField(_("placed at"))
    updated_at = models.DateTimeField(_("updated at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("transition_order", _("Can fulfil, cancel and refund orders within policy")),
            ("force_transition", _("Can force any legal order transition")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="orders_order_user_key_uniq"),
            models.CheckConstraint(condition=Q(total__gte=0), name="orders_order_total_nonnegative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("total")),
                name="orders_order_refunded_within_total",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="orders_order_user_idx"),
            models.Index(fields=["market", "status", "-created_at"], name="orders_order_market_idx"),
            models.Index(
                fields=["expires_at"], condition=Q(status="pending"), name="orders_order_expiry_idx"
            ),
            # The daily sales aggregates read a market's payments of a local day (ADR 0012).
            models.Index(
                fields=["market", "paid_at"], condition=Q(paid_at__isnull=False), name="orders_order_paid_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def owner(self) -> str:
        """The inventory reservation owner of this order."""
        return f"order:{self.public_id}"

    def money(self, amount: int) -> Money:
        return Money(amount, self.currency)


class OrderLine(models.Model):
    """One SKU of an order with its price snapshot and its exact share of the order-level
    amounts. ``line_total = unit_price x quantity - coupon_share + tax_share (when tax is
    added) + shipping_share``; the lines' totals add up to the order's total."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"))
    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    sku_code = models.CharField(_("SKU code"), max_length=64)
    product_id_snapshot = models.BigIntegerField(_("product id"))
    name_ko = models.CharField(_("name (Korean)"), max_length=300)
    name_en = models.CharField(_("name (English)"), max_length=300)
    quantity = models.PositiveIntegerField(_("quantity"))
    list_price = models.BigIntegerField(_("list price"))
    unit_price = models.BigIntegerField(_("unit price"))
    coupon_share = models.BigIntegerField(_("coupon discount share"), default=0)
    tax_share = models.BigIntegerField(_("tax share"), default=0)
    shipping_share = models.BigIntegerField(_("shipping share"), default=0)
    line_total = models.BigIntegerField(_("line total"))
    refunded_quantity = models.PositiveIntegerField(_("refunded quantity"), default=0)
    refunded_amount = models.BigIntegerField(_("refunded"), default=0)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="orders_line_position_uniq"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orders_line_quantity_positive"),
            models.CheckConstraint(condition=Q(line_total__gte=0), name="orders_line_total_nonnegative"),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=F("quantity")), name="orders_line_refunded_qty_within"
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("line_total")),
                name="orders_line_refunded_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_code} x {self.quantity}"

    def name(self, language: str | None) -> str:
        return self.name_ko if (language or "").startswith("ko") else self.name_en

    @property
    def merchandise(self) -> int:
        return self.unit_price * self.quantity


class OrderStatusChange(models.Model):
    """``status_history``: every move of an order, who made it and why. Append-only."""

    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="status_history"
    )
    from_status = models.CharField(_("from"), max_length=16, blank=True)
    to_status = models.CharField(_("to"), max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    #: ``member``, ``staff``, ``system`` (expiry, settle task).
    actor_kind = models.CharField(_("by whom"), max_length=16)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("order status change")
        verbose_name_plural = _("order status history")
        ordering = ["order", "created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '·'} → {self.to_status}"


class OrderPayment(models.Model):
    """How an order was paid. At most one live (pending or captured) payment per order: a
    partial unique index, so paying can never capture twice."""

    class Method(models.TextChoices):
        WALLET = "wallet", _("Joopang wallet")
        PAYMENT_METHOD = "payment_method", _("Saved payment method")
        #: Recorded by ops when they force PENDING -> PAID (paid outside Joopang).
        MANUAL = "manual", _("Recorded by staff")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        CAPTURED = "captured", _("Captured")
        FAILED = "failed", _("Failed")
        REFUNDED = "refunded", _("Refunded")

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="payments"
    )
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    amount = models.BigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    wallet_entry = models.OneToOneField(
        "payments.WalletEntry",
        verbose_name=_("wallet entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    charge = models.OneToOneField(
        "payments.Charge",
        verbose_name=_("charge"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    payment_method = models.ForeignKey(
        "payments.PaymentMethod",
        verbose_name=_("payment method"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    failure_code = models.CharField(_("failure"), max_length=60, blank=True)
    #: SHA-256 of the ``Idempotency-Key`` that paid: a retry with that key after a crash
    #: gets this payment back instead of ``order.not_payable``.
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"))
    captured_at = models.DateTimeField(_("captured at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("order payment")
        verbose_name_plural = _("order payments")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status__in=["pending", "captured"]),
                name="orders_payment_one_live_per_order",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="orders_payment_amount_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.status} {self.amount}"


class OrderRefund(models.Model):
    """Money given back for an order (a cancellation after payment, or a return within the
    market's window), to where it came from: the wallet, or the saved method."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("Succeeded")
        PENDING = "pending", _("Pending")

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="refunds"
    )
    amount = models.BigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    destination = models.CharField(_("refunded to"), max_length=16, choices=OrderPayment.Method.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    #: ``[{"line": position, "quantity": n, "amount": minor}]``
    lines = models.JSONField(_("lines"), default=list)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, null=True, blank=True)
    wallet_entry = models.OneToOneField(
        "payments.WalletEntry",
        verbose_name=_("wallet entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    provider_refund_id = models.CharField(_("provider refund id"), max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("order refund")
        verbose_name_plural = _("order refunds")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="orders_refund_order_key_uniq",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="orders_refund_amount_positive"),
        ]
        # The daily sales aggregates read the refunds of a local day (ADR 0012).
        indexes = [models.Index(fields=["created_at"], name="orders_refund_created_idx")]

    def __str__(self) -> str:
        return f"{self.order_id} −{self.amount}"
