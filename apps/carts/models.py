"""Carts: one persistent cart per member, and guest carts identified by an opaque token.

A guest cart's token (``secrets.token_urlsafe(32)``) is given to the client once and only
its SHA-256 is stored (``token_hash``): a database read never yields a usable token. The
public id of every cart is a random UUID (``public_id``); the sequential primary key is
never shown. A cart holds SKUs and quantities only: prices are read from the catalog each
time the cart is shown, and a cart never reserves stock (checkout does).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Cart(models.Model):
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="cart",
    )
    #: SHA-256 (hex) of a guest cart's token; null for a member's cart.
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, null=True, blank=True)
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="carts"
    )
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))
    #: Guest carts only: after this instant the cart is gone (treated as missing at once,
    #: deleted by the ``carts_prune`` beat task). Moved forward on every use.
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("cart")
        verbose_name_plural = _("carts")
        constraints = [
            # Exactly one owner: a member, or a guest token.
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(token_hash__isnull=True))
                | (Q(user__isnull=True) & Q(token_hash__isnull=False)),
                name="carts_cart_one_owner",
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="carts_cart_expires_idx")]

    def __str__(self) -> str:
        return str(self.public_id)

    @property
    def is_guest(self) -> bool:
        return self.user_id is None


class CartLine(models.Model):
    """One SKU in a cart. ``UNIQUE (cart, sku)``: two concurrent adds of one SKU can never
    make two lines (the service upserts under the cart's row lock)."""

    cart = models.ForeignKey(Cart, verbose_name=_("cart"), on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="cart_lines"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    added_at = models.DateTimeField(_("added at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        ordering = ["added_at", "id"]
        verbose_name = _("cart line")
        verbose_name_plural = _("cart lines")
        constraints = [
            models.UniqueConstraint(fields=["cart", "sku"], name="carts_cartline_cart_sku_uniq"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="carts_cartline_quantity_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.cart_id}:{self.sku_id} x{self.quantity}"
