"""Wallets in the back office (issue 19, "Storefront" and "Staff adjustments"): for customer
service and operations only; inventory and marketing have no payments permission, so they
see no item and get 403 on every URL here.

* **Wallets**, the **ledger**, **payment methods** and **charges** are read-only for
  everyone, superusers included: rows are written by ``apps.payments.services`` only.
  Every list is scoped to the staff member's markets; a wallet of another market is a
  404, not a redirect that confirms it exists.
* **Adjust balance** (``payments.adjust_wallet``) is a form that calls
  ``services.wallet_adjust`` and nothing else: the amount typed in won or dollars becomes
  exact minor units, the market's limit applies to customer service (operations have
  none), and a refusal (limit, insufficient balance, invalid) is the service's localized
  error on the form with nothing changed. Each rendered form carries its own ledger
  reference, so a double submit moves the wallet once.
* A payment method's provider token is never shown (nor searchable).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import action
from unfold.utils import parse_date_str

from apps.accounts.admin import MarketScopedAdminMixin
from apps.accounts.models import User
from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell, money_cell
from apps.core.admin_export import ListExportMixin, ListResource, column, utc_iso
from apps.core.errors import DomainError
from apps.payments import services
from apps.payments.admin_forms import WalletAdjustForm
from apps.payments.models import Charge, PaymentMethod, Wallet, WalletEntry

ADJUST = "payments.adjust_wallet"
#: Ledger lines shown on a wallet's page; the rest are one click away in the ledger list.
LEDGER_PREVIEW = 20


def _member(user: User) -> str:
    return f"{user.name} · {user.email}" if user.name else user.email


def _breakable(text: str) -> str:
    """A long token without spaces (a reference, an email) that may wrap anywhere, so a
    ledger column never pushes the table past the window."""
    return format_html('<span style="word-break: break-all">{}</span>', text)


def _signed(amount: int, currency: str) -> str | None:
    """``+₩5,000`` for a credit, ``-₩5,000`` for a debit."""
    shown = money_cell(amount, currency)
    return f"+{shown}" if shown is not None and amount > 0 else shown


class _ScopedObjectMixin:
    """A row outside the staff member's markets (or none at all) is 404: Django's default
    redirect with "does not exist" would tell a KR-only agent a US wallet's id is valid."""

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404
        return obj


class MarketDayRangeFilter(RangeDateFilter):
    """From and to a day of the market's calendar (the admin's active time zone), both
    days included (unfold's range compares a timestamp with midnight, dropping the "to"
    day). The same rule as the stock ledger's filter."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        filters = {}
        for suffix, lookup in (("_from", "gte"), ("_to", "lte")):
            value = self.used_parameters.get(f"{self.parameter_name}{suffix}")
            day = parse_date_str(value) if isinstance(value, str) and value else None
            if day is not None:
                filters[f"{self.parameter_name}__date__{lookup}"] = day
        return queryset.filter(**filters)


# --- Wallets ------------------------------------------------------------------------
@admin.register(Wallet)
class WalletAdmin(_ScopedObjectMixin, ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    market_scope_field = "market"
    list_display = ("member", "market_code", "balance_shown", "updated")
    list_filter = ("market",)
    list_filter_submit = True
    search_fields = ("user__email", "user__name")
    list_select_related = ("user",)
    ordering = ("-updated_at", "-pk")
    show_full_result_count = False
    actions = None
    actions_detail = ("adjust_balance",)
    fields = ("member", "market", "currency", "balance_shown", "created", "updated")
    readonly_fields = fields
    change_form_after_template = "admin/payments/wallet_ledger.html"

    @admin.display(description=_("member"), ordering="user__email")
    def member(self, obj: Wallet) -> str:
        return _member(obj.user)

    @admin.display(description=_("market"), ordering="market")
    def market_code(self, obj: Wallet) -> str:
        return str(obj.market_id)

    @admin.display(description=_("balance"), ordering="balance")
    def balance_shown(self, obj: Wallet) -> str | None:
        return money_cell(obj.balance, obj.currency)

    @admin.display(description=_("updated at"), ordering="updated_at")
    def updated(self, obj: Wallet) -> str | None:
        return datetime_cell(obj.updated_at)

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj: Wallet) -> str | None:
        return datetime_cell(obj.created_at)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The wallet and its newest ledger lines (with who and why), newest first."""
        wallet = self.get_object(request, object_id)
        entries = list(
            WalletEntry.objects.filter(wallet=wallet)
            .select_related("actor")
            .order_by("-created_at", "-id")[: LEDGER_PREVIEW + 1]
        )
        rows = [
            {
                "kind": entry.get_kind_display(),
                "amount": _signed(entry.amount, wallet.currency),
                "credit": entry.amount > 0,
                "balance_after": money_cell(entry.balance_after, wallet.currency),
                "reference": entry.reference,
                "actor": entry.actor.email if entry.actor else "",
                "reason": entry.reason,
                "when": datetime_cell(entry.created_at),
            }
            for entry in entries[:LEDGER_PREVIEW]
        ]
        context = {
            **(extra_context or {}),
            "ledger_rows": rows,
            "ledger_more": len(entries) > LEDGER_PREVIEW,
            "ledger_url": reverse("admin:payments_walletentry_changelist") + f"?wallet={wallet.pk}",
            "adjust_url": (
                reverse("admin:payments_wallet_adjust_balance", args=[wallet.pk])
                if self.has_adjust_wallet_permission(request)
                else None
            ),
        }
        return super().change_view(request, object_id, form_url, context)

    # --- Adjust balance ---------------------------------------------------------------
    def has_adjust_wallet_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Customer service (up to the market's limit) and operations."""
        return bool(request.user.has_perm(ADJUST))

    @action(
        description=_("Adjust balance"),
        url_path="adjust",
        icon="account_balance_wallet",
        permissions=["adjust_wallet"],
    )
    def adjust_balance(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Credit or debit the wallet through ``services.wallet_adjust`` (never a model
        write here). A refusal is the form's error and changes nothing; the same rendered
        form posted twice is one ledger entry (its reference), the second post says so."""
        wallet = self.get_object(request, object_id)
        actor = request.user
        assert isinstance(actor, User)
        form = WalletAdjustForm(request.POST if request.method == "POST" else None, currency=wallet.currency)
        if form.is_valid():
            reference = form.reference
            replayed = WalletEntry.objects.filter(reference=reference).first()
            entry: WalletEntry | None = replayed
            if replayed is None:
                try:
                    entry = services.wallet_adjust(
                        user=wallet.user,
                        market=wallet.market,
                        amount=form.signed_amount,
                        reason=form.cleaned_data["reason"],
                        actor=actor,
                        reference=reference,
                    )
                except DomainError as exc:
                    form.add_error(None, exc.detail)
                except IntegrityError:
                    # The same form posted twice at once: the other request wrote the entry
                    # (its unique reference); this one rolled back whole.
                    replayed = entry = WalletEntry.objects.filter(reference=reference).first()
                    if entry is None:
                        raise
            if entry is not None and entry.wallet_id != wallet.pk:
                form.add_error(
                    None, gettext("This form was already used for another wallet. Reload the page.")
                )
            elif entry is not None:
                url = reverse("admin:payments_wallet_change", args=[wallet.pk])
                if replayed is not None:
                    self.message_user(
                        request,
                        gettext("This adjustment was already recorded; nothing changed."),
                        messages.INFO,
                    )
                    return redirect(url)
                wallet.refresh_from_db(fields=["balance", "updated_at"])
                message = gettext("%(amount)s adjustment recorded: the balance is now %(balance)s.") % {
                    "amount": _signed(entry.amount, wallet.currency),
                    "balance": money_cell(wallet.balance, wallet.currency),
                }
                self.log_change(request, wallet, message)
                self.message_user(request, message, messages.SUCCESS)
                return redirect(url)
        limit = services.adjustment_limit_for(actor=actor, market=wallet.market)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust balance"),
            "opts": self.model._meta,
            "original": wallet,
            "form": form,
            "wallet": wallet,
            "member": _member(wallet.user),
            "balance": money_cell(wallet.balance, wallet.currency),
            "limit": money_cell(limit, wallet.currency) if limit is not None else None,
            "back_url": reverse("admin:payments_wallet_change", args=[wallet.pk]),
        }
        return TemplateResponse(request, "admin/payments/wallet_adjust.html", context)


# --- The ledger ---------------------------------------------------------------------
class WalletEntryExport(ListResource):
    """The ledger list as a file (``apps.core.admin_export``): the list's columns with
    the amounts in signed minor units and the time in UTC."""

    when = column(_("time (UTC)"), lambda e: utc_iso(e.created_at))
    market = column(_("market"), lambda e: e.wallet.market_id)
    member = column(_("member email"), lambda e: e.wallet.user.email)
    kind = column(_("kind"), lambda e: e.get_kind_display())
    currency = column(_("currency"), lambda e: e.wallet.currency)
    amount = column(_("amount (minor units)"), lambda e: e.amount)
    balance_after = column(_("balance after (minor units)"), lambda e: e.balance_after)
    reference = column(_("reference"), lambda e: e.reference)
    by = column(_("by"), lambda e: e.actor.email if e.actor else "")
    reason = column(_("reason"), lambda e: e.reason)


@admin.register(WalletEntry)
class WalletEntryAdmin(
    ListExportMixin, _ScopedObjectMixin, ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin
):
    """Every balance change with who and why: append-only, nobody edits a line."""

    market_scope_field = "wallet__market"
    resource_classes = [WalletEntryExport]
    export_name = "wallet-ledger"
    list_display = (
        "when",
        "member",
        "kind",
        "amount_shown",
        "balance_after_shown",
        "reference",
        "by",
        "reason",
    )
    list_display_links = None
    list_filter = ("kind", "wallet__market", ("created_at", MarketDayRangeFilter))
    list_filter_submit = True
    search_fields = ("reference", "wallet__user__email")
    list_select_related = ("wallet__user", "actor")
    ordering = ("-created_at", "-id")
    show_full_result_count = False  # the ledger grows without bound: no COUNT(*) per page
    actions = None

    @admin.display(description=_("time"), ordering="created_at")
    def when(self, obj: WalletEntry) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("member"))
    def member(self, obj: WalletEntry) -> str:
        return _breakable(obj.wallet.user.email)

    @admin.display(description=_("reference"), ordering="reference")
    def reference_shown(self, obj: WalletEntry) -> str:
        return _breakable(obj.reference)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_shown(self, obj: WalletEntry) -> str | None:
        return _signed(obj.amount, obj.wallet.currency)

    @admin.display(description=_("balance after"))
    def balance_after_shown(self, obj: WalletEntry) -> str | None:
        return money_cell(obj.balance_after, obj.wallet.currency)

    @admin.display(description=_("by"))
    def by(self, obj: WalletEntry) -> str:
        return _breakable(obj.actor.email) if obj.actor else ""


# --- Payment methods and charges ----------------------------------------------------
@admin.register(PaymentMethod)
class PaymentMethodAdmin(_ScopedObjectMixin, ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    """Saved methods as the member sees them (label and last four digits); the provider's
    token stays out of every page and search."""

    market_scope_field = "market"
    list_display = ("member", "market_code", "kind", "display_label", "status", "created")
    list_display_links = None
    list_filter = ("status", "kind", "market")
    list_filter_submit = True
    search_fields = ("user__email", "user__name")
    list_select_related = ("user",)
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    actions = None
    fields = ("member", "market", "kind", "display_label", "provider", "status", "created", "removed")
    readonly_fields = fields

    @admin.display(description=_("member"), ordering="user__email")
    def member(self, obj: PaymentMethod) -> str:
        return _member(obj.user)

    @admin.display(description=_("market"), ordering="market")
    def market_code(self, obj: PaymentMethod) -> str:
        return str(obj.market_id)

    @admin.display(description=_("payment method"))
    def display_label(self, obj: PaymentMethod) -> str:
        return obj.display_label

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj: PaymentMethod) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("removed at"), ordering="removed_at")
    def removed(self, obj: PaymentMethod) -> str | None:
        return datetime_cell(obj.removed_at)


@admin.register(Charge)
class ChargeAdmin(_ScopedObjectMixin, ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    """What we asked the provider to charge, and what came of it (a pending charge is
    settled later by the status task)."""

    market_scope_field = "market"
    list_display = (
        "reference",
        "member",
        "amount_shown",
        "status",
        "failure_code",
        "attempts",
        "created",
        "settled",
    )
    list_filter = ("status", "purpose", "market")
    list_filter_submit = True
    search_fields = ("user__email",)
    list_select_related = ("user",)
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    actions = None
    fields = (
        "reference",
        "member",
        "market",
        "purpose",
        "payment_method",
        "amount_shown",
        "status",
        "failure_code",
        "attempts",
        "provider_charge_id",
        "created",
        "settled",
        "checked",
    )
    readonly_fields = fields

    @admin.display(description=_("member"), ordering="user__email")
    def member(self, obj: Charge) -> str:
        return _member(obj.user)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_shown(self, obj: Charge) -> str | None:
        return money_cell(obj.amount, obj.currency)

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj: Charge) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("settled at"), ordering="settled_at")
    def settled(self, obj: Charge) -> str | None:
        return datetime_cell(obj.settled_at)

    @admin.display(description=_("last asked the provider"), ordering="checked_at")
    def checked(self, obj: Charge) -> str | None:
        return datetime_cell(obj.checked_at)
