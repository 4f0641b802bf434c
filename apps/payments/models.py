"""The wallet, its append-only ledger, saved payment methods and provider charges.

Invariant (DESIGN.md §7 "Wallet"): for every wallet, ``balance`` equals the sum of its
ledger entries' ``amount``, always. It holds because the balance only ever moves in
``services.ledger`` by one conditional ``UPDATE`` that also writes the entry, in one
transaction; ``CHECK (balance >= 0)`` is the backstop, and on PostgreSQL a trigger
refuses any ``UPDATE`` or ``DELETE`` of a ledger row (migration 0002).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.money import Money


class Wallet(models.Model):
    """One per member and currency (KRW for KR, USD for US); created on first use."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="wallets",
    )
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="wallets"
    )
    currency = models.CharField(_("currency"), max_length=3)
    #: Minor units. Moved only by ``services.ledger``; never edited by hand.
    balance = models.BigIntegerField(_("balance"), default=0)
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        ordering = ["-updated_at", "-pk"]
        permissions = [
            ("adjust_wallet", _("Can adjust a wallet within the market's policy limit")),
            ("adjust_wallet_unlimited", _("Can adjust a wallet without limit")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "currency"], name="payments_wallet_user_currency_uniq"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="payments_wallet_balance_nonnegative"),
        ]
        indexes = [models.Index(fields=["market", "-updated_at"], name="payments_wallet_market_idx")]

    def __str__(self) -> str:
        # The back office breadcrumb: who and which currency (select_related("user") in lists).
        return f"{self.user} · {self.currency}"

    @property
    def balance_money(self) -> Money:
        return Money(self.balance, self.currency)


class WalletEntry(models.Model):
    """One line of a wallet's ledger: append-only, never updated or deleted."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")
        ADJUSTMENT = "adjustment", _("Adjustment")
        REVERSAL = "reversal", _("Reversal")

    wallet = models.ForeignKey(
        Wallet, verbose_name=_("wallet"), on_delete=models.PROTECT, related_name="entries"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    #: Signed minor units: a credit is positive, a debit negative; never zero.
    amount = models.BigIntegerField(_("amount"))
    balance_after = models.BigIntegerField(_("balance after"))
    #: Our idempotency reference: the same reference can never move the wallet twice
    #: (``charge:<uuid>`` for a top-up, ``adjustment:<uuid>``, ``order:<id>:payment`` ...).
    reference = models.CharField(_("reference"), max_length=120, unique=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The staff member of an adjustment; the member themselves otherwise."),
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    charge = models.OneToOneField(
        "payments.Charge",
        verbose_name=_("charge"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entry",
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("wallet ledger entry")
        verbose_name_plural = _("wallet ledger")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="payments_walletentry_amount_nonzero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="payments_walletentry_balance_after_nonnegative"
            ),
        ]
        indexes = [
            models.Index(fields=["wallet", "-created_at", "-id"], name="payments_entry_wallet_idx"),
            models.Index(fields=["wallet", "kind", "-created_at"], name="payments_entry_wallet_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} → {self.balance_after}"

    @property
    def amount_money(self) -> Money:
        return Money(self.amount, self.wallet.currency)

    @property
    def balance_after_money(self) -> Money:
        return Money(self.balance_after, self.wallet.currency)


class PaymentMethod(models.Model):
    """A bank account or card the provider approved. We keep only its opaque token and a
    label to show ("KB국민 ****1234"); never a card number, account number or CVC."""

    class Kind(models.TextChoices):
        BANK_ACCOUNT = "bank_account", _("Bank account")
        CARD = "card", _("Card")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REMOVED = "removed", _("Removed")

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="payment_methods",
    )
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    label = models.CharField(_("label"), max_length=80)
    last4 = models.CharField(_("last four digits"), max_length=4)
    provider = models.CharField(_("provider"), max_length=40)
    provider_token = models.CharField(_("provider token"), max_length=200, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"))
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment method")
        verbose_name_plural = _("payment methods")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "status", "-created_at"], name="payments_method_user_idx")]

    def __str__(self) -> str:
        return self.display_label

    @property
    def display_label(self) -> str:
        return f"{self.label} ****{self.last4}"


class Charge(models.Model):
    """A charge we asked the provider for, keyed by our reference (sent with the request,
    so the provider applies it at most once). ``pending`` until its outcome is known: a
    timed-out charge stays pending and the settle task asks the provider later."""

    class Purpose(models.TextChoices):
        TOP_UP = "top_up", _("Wallet top-up")
        ORDER = "order", _("Order payment")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    reference = models.UUIDField(_("reference"), default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="charges"
    )
    wallet = models.ForeignKey(
        Wallet,
        verbose_name=_("wallet"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="charges",
    )
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="+"
    )
    payment_method = models.ForeignKey(
        PaymentMethod, verbose_name=_("payment method"), on_delete=models.PROTECT, related_name="charges"
    )
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    amount = models.BigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    #: The member's ``Idempotency-Key`` (hashed): a request taken over after a crash finds
    #: the charge its first attempt began instead of starting a second one.
    request_key = models.CharField(_("request key"), max_length=64, null=True, blank=True)
    provider_charge_id = models.CharField(_("provider charge id"), max_length=100, blank=True)
    failure_code = models.CharField(_("failure"), max_length=60, blank=True)
    attempts = models.PositiveIntegerField(_("provider calls"), default=0)
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    checked_at = models.DateTimeField(_("last asked the provider"), null=True, blank=True)

    class Meta:
        verbose_name = _("charge")
        verbose_name_plural = _("charges")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_charge_amount_positive"),
            models.UniqueConstraint(
                fields=["user", "request_key"],
                condition=Q(request_key__isnull=False),
                name="payments_charge_user_request_key_uniq",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(status="pending"), name="payments_charge_pending_idx"
            ),
            models.Index(fields=["wallet", "purpose", "created_at"], name="payments_charge_wallet_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.status}"

    @property
    def amount_money(self) -> Money:
        return Money(self.amount, self.currency)
