"""Stock in the back office (issue 17, "Back office"): warehouses, stock per product and
warehouse, the forms that move stock, the stock ledger and reservations.

* **Moving stock** goes through the services only: *receive* (receipt or return) and
  *correct* (a counted difference or damage) call ``services.stock_adjust``, *transfer*
  calls ``services.stock_transfer``; every form asks for a reason, and a refusal
  (below zero or below what is reserved, a count that changed since the page was
  opened, an unknown SKU) is the service's localized error shown on the form, with
  nothing changed. The change page's count edit calls ``services.stock_level_on_hand_set``
  (a ``correction`` movement, compare-and-set on the count the editor saw).
* **The ledger** (``StockMovement``) and **reservations** are read-only for everyone,
  superusers included: they are written by the services, never by hand. The ledger
  exports to CSV or XLSX (``apps.core.admin_export``: the rows the list's filters and
  search select, times in UTC).
* **Low stock**: the list filter compares each row's available units with its own
  threshold, else ``INVENTORY_LOW_STOCK_THRESHOLD`` (``services.low_stock_threshold_default``).
* Staff scoped to one market see and move only that market's stock.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateFilter, RelatedDropdownFilter
from unfold.decorators import action
from unfold.utils import parse_date_str

from apps.accounts.admin import MarketScopedAdminMixin
from apps.accounts.models import User
from apps.accounts.selectors import staff_markets
from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell
from apps.core.admin_export import ListExportMixin, ListResource, column, utc_iso
from apps.core.errors import DomainError
from apps.inventory import services
from apps.inventory.admin_forms import StockCorrectForm, StockReceiveForm, StockTransferForm
from apps.inventory.errors import StockChanged
from apps.inventory.models import Reservation, StockLevel, StockMovement, Warehouse
from apps.inventory.services.levels import threshold_of

CHANGE_STOCK = "inventory.change_stocklevel"


@admin.register(Warehouse)
class WarehouseAdmin(ModelAdmin):
    list_display = ("code", "name", "market", "priority", "is_active")
    list_filter = ("market", "is_active")
    search_fields = ("code", "name")


class StockLevelForm(forms.ModelForm):
    """``reserved`` is read-only here, so Django skips the CHECK that names it: the form
    checks ``0 <= reserved <= on_hand`` itself instead of letting the database 500.
    ``expected_on_hand`` carries the quantity the editor saw, so a sale committed since
    the form was loaded is a form error, not overwritten (the service re-checks it)."""

    expected_on_hand = forms.IntegerField(
        label=_("on hand when the form was opened"), widget=forms.HiddenInput, required=False
    )
    reason = forms.CharField(
        label=_("reason"),
        max_length=500,
        required=False,
        help_text=_("Why the count changes (required when it does); kept in the stock ledger."),
    )

    class Meta:
        model = StockLevel
        fields = ("sku", "warehouse", "on_hand")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["expected_on_hand"].initial = self.instance.on_hand

    def clean_on_hand(self) -> int:
        on_hand = self.cleaned_data["on_hand"]
        reserved = self.instance.reserved or 0
        if on_hand < reserved:
            raise forms.ValidationError(
                _("On hand cannot be below the %(reserved)s reserved units."),
                code="below_reserved",
                params={"reserved": reserved},
            )
        return on_hand

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        expected = cleaned.get("expected_on_hand")
        if self.instance.pk is not None and expected is not None and expected != self.instance.on_hand:
            self.add_error("on_hand", StockChanged(on_hand=self.instance.on_hand, expected=expected).detail)
        changed = self.instance.pk is not None and "on_hand" in self.changed_data
        if changed and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", _("Say why the stock changes."))
        return cleaned


class AvailabilityFilter(admin.SimpleListFilter):
    """Out of stock, low (at or below the row's threshold, out of stock included: what
    needs replenishing) and in stock. A row's threshold is its own, else the default
    (``INVENTORY_LOW_STOCK_THRESHOLD``), as for the ``inventory.low_stock`` signal."""

    title = _("availability")
    parameter_name = "availability"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("out", _("Out of stock")), ("low", _("Low stock")), ("in", _("In stock"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StockLevel]) -> QuerySet[StockLevel]:
        if self.value() not in ("out", "low", "in"):
            return queryset
        queryset = queryset.alias(
            free=F("on_hand") - F("reserved"),
            threshold=Coalesce("low_stock_threshold", Value(services.low_stock_threshold_default())),
        )
        if self.value() == "out":
            return queryset.filter(free__lte=0)
        if self.value() == "low":
            return queryset.filter(free__lte=F("threshold"))
        return queryset.filter(free__gt=F("threshold"))


def _actor(request: HttpRequest) -> User | None:
    """Who the ledger names: the signed-in staff member."""
    return request.user if isinstance(request.user, User) else None


def _scope(request: HttpRequest) -> set[str] | None:
    """The markets this staff member works in (``None``: all)."""
    return staff_markets(request.user)


def _scoped_levels(request: HttpRequest) -> QuerySet[StockLevel]:
    qs = StockLevel.objects.select_related("sku__product", "warehouse")
    markets = _scope(request)
    return qs if markets is None else qs.filter(warehouse__market_id__in=sorted(markets))


def _check_warehouses(request: HttpRequest, *warehouses: Warehouse) -> None:
    markets = _scope(request)
    if markets is not None and any(wh.market_id not in markets for wh in warehouses):
        raise PermissionDenied


@admin.register(StockLevel)
class StockLevelAdmin(MarketScopedAdminMixin, ModelAdmin):
    market_scope_field = "warehouse__market"
    form = StockLevelForm
    list_display = (
        "product",
        "sku_code",
        "warehouse",
        "on_hand",
        "reserved",
        "available",
        "threshold",
        "updated",
    )
    list_display_links = ("product", "sku_code")
    list_filter = (
        "warehouse__market",
        ("warehouse", RelatedDropdownFilter),
        AvailabilityFilter,
    )
    list_filter_submit = True
    search_fields = ("sku__code", "sku__product__name_ko", "sku__product__name_en", "warehouse__code")
    list_select_related = ("sku__product", "warehouse")
    autocomplete_fields = ("sku",)
    ordering = ("sku__product__name", "sku__code", "warehouse__priority")
    actions_list = ("receive_stock", "transfer_stock")
    #: The same three actions on each row of the list and on the change page: one view and
    #: one URL each (``get_urls`` registers them once).
    actions_row = ("receive_stock_row", "correct_stock_row", "transfer_stock_row")
    actions_detail = actions_row

    def get_urls(self) -> list[URLPattern]:
        """unfold adds a URL for every row action and another for every detail action: the
        same route, name and view twice here. Keep the first of each, so ``<id>/receive/``,
        ``<id>/correct/`` and ``<id>/transfer/`` are registered once and both the row's and
        the change page's buttons (which reverse the name) reach it."""
        seen: set[tuple[str, str | None]] = set()
        urls: list[URLPattern] = []
        for url in super().get_urls():
            key = (str(url.pattern), getattr(url, "name", None))
            if key[1] is not None and key in seen:
                continue
            seen.add(key)
            urls.append(url)
        return urls

    @admin.display(description=_("product"), ordering="sku__product__name")
    def product(self, obj: StockLevel) -> str:
        return str(obj.sku.product.name)

    @admin.display(description=_("SKU code"), ordering="sku__code")
    def sku_code(self, obj: StockLevel) -> str:
        return str(obj.sku.code)

    @admin.display(description=_("updated at"), ordering="updated_at")
    def updated(self, obj: StockLevel) -> str | None:
        return datetime_cell(obj.updated_at)

    @admin.display(description=_("low-stock threshold"))
    def threshold(self, obj: StockLevel) -> int:
        return threshold_of(obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        return [f for f in fields if f != "reason"] if obj is None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Reservations belong to checkout: nobody edits ``reserved`` by hand once a row exists.
        return (
            ("sku", "warehouse", "reserved", "updated_at") if obj is not None else ("reserved", "updated_at")
        )

    @admin.display(description=_("available"))
    def available(self, obj: StockLevel) -> int:
        return obj.available

    def save_model(self, request: HttpRequest, obj: StockLevel, form: Any, change: bool) -> None:
        if not change:
            # The form's unique check catches the usual duplicate; a concurrent "add" of the
            # same SKU and warehouse is refused by the service, never overwritten.
            _check_warehouses(request, obj.warehouse)
            obj.pk = services.stock_level_create(
                sku_id=obj.sku_id, warehouse=obj.warehouse, on_hand=obj.on_hand, actor=_actor(request)
            ).pk
            return
        try:
            services.stock_level_on_hand_set(
                level_id=obj.pk,
                on_hand=obj.on_hand,
                expected_on_hand=form.cleaned_data.get("expected_on_hand"),
                actor=_actor(request),
                reason=(form.cleaned_data.get("reason") or "").strip(),
            )
        except DomainError as exc:  # a reservation landed after the form was checked
            transaction.set_rollback(True)  # no log entry claiming a change
            request._stock_refused = True  # type: ignore[attr-defined]
            self.message_user(request, exc.detail, messages.ERROR)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        """Name the quantity change in the log ("On hand (10 → 7)"), not just the field."""
        message = super().construct_change_message(request, form, formsets, add)
        if not add and "on_hand" in form.changed_data:
            with translation.override(None):  # Django logs labels untranslated
                label = str(form.fields["on_hand"].label)
            for part in message:
                fields = part.get("changed", {}).get("fields")
                if fields:
                    part["changed"]["fields"] = [
                        f"{f} ({form.initial['on_hand']} → {form.cleaned_data['on_hand']})"
                        if f == label
                        else f
                        for f in fields
                    ]
        return message

    def response_change(self, request: HttpRequest, obj: StockLevel) -> HttpResponse:
        if getattr(request, "_stock_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # --- Receive, correct, transfer (unfold actions: list, row and change page) ----------
    def has_move_stock_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Receive, correct and transfer: what the API's adjustments need too. (A method,
        not unfold's dotted form, whose system check queries the permission table and
        fails before the first ``migrate``.)"""
        return bool(request.user.has_perm(CHANGE_STOCK))

    def _level(self, request: HttpRequest, object_id: Any) -> StockLevel:
        level = (
            _scoped_levels(request).filter(pk=str(object_id)).first() if str(object_id).isdigit() else None
        )
        if level is None:
            raise Http404
        return level

    def _render(
        self, request: HttpRequest, *, title: Any, form: forms.Form, level: StockLevel | None, submit: Any
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "level": level,
            "level_threshold": threshold_of(level) if level is not None else None,
            "submit_label": submit,
            "back_url": reverse("admin:inventory_stocklevel_changelist"),
        }
        return TemplateResponse(request, "admin/inventory/stock_form.html", context)

    def _done(self, request: HttpRequest, level: StockLevel, message: str) -> HttpResponse:
        self.log_change(request, level, message)
        self.message_user(request, message, messages.SUCCESS)
        return redirect(reverse("admin:inventory_stocklevel_changelist") + f"?q={level.sku.code}")

    def _receive(self, request: HttpRequest, level: StockLevel | None) -> HttpResponse:
        initial = {"sku_code": level.sku.code, "warehouse": level.warehouse_id} if level is not None else {}
        data = request.POST if request.method == "POST" else None
        form = StockReceiveForm(data, initial=initial, markets=_scope(request))
        if form.is_valid():
            data_ = form.cleaned_data
            try:
                result = services.stock_adjust(
                    sku_code=data_["sku_code"].strip(),
                    warehouse_code=data_["warehouse"].code,
                    delta=data_["quantity"],
                    kind=data_["kind"],
                    reason=data_["reason"],
                    reference=data_["reference"],
                    actor=_actor(request),
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                message = gettext(
                    "%(kind)s of %(quantity)s × %(sku)s in %(warehouse)s: on hand now %(on_hand)s."
                ) % {
                    "kind": StockMovement.Kind(data_["kind"]).label,
                    "quantity": data_["quantity"],
                    "sku": result.sku.code,
                    "warehouse": result.warehouse.code,
                    "on_hand": result.on_hand,
                }
                return self._done(request, result, message)
        return self._render(request, title=_("Receive stock"), form=form, level=level, submit=_("Receive"))

    @action(
        description=_("Receive stock"),
        url_path="receive",
        icon="move_to_inbox",
        permissions=["move_stock"],
    )
    def receive_stock(self, request: HttpRequest) -> HttpResponse:
        level_id = request.GET.get("level", "")
        return self._receive(request, self._level(request, level_id) if level_id else None)

    @action(description=_("Receive"), url_path="receive", icon="move_to_inbox", permissions=["move_stock"])
    def receive_stock_row(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return self._receive(request, self._level(request, object_id))

    @action(description=_("Correct"), url_path="correct", icon="edit_note", permissions=["move_stock"])
    def correct_stock_row(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        """A counted difference or damage, compare-and-set on the on-hand quantity this
        page showed: a sale or a delivery booked meanwhile is a form error, not overwritten."""
        level = self._level(request, object_id)
        data = request.POST if request.method == "POST" else None
        form = StockCorrectForm(data, initial={"expected_on_hand": level.on_hand})
        if form.is_valid():
            data_ = form.cleaned_data
            try:
                result = services.stock_adjust(
                    sku_code=level.sku.code,
                    warehouse_code=level.warehouse.code,
                    delta=data_["delta"],
                    kind=data_["kind"],
                    reason=data_["reason"],
                    reference=data_["reference"],
                    actor=_actor(request),
                    expected_on_hand=data_["expected_on_hand"],
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
                level = self._level(request, object_id)  # show the current numbers
            else:
                message = gettext(
                    "%(kind)s of %(delta)s × %(sku)s in %(warehouse)s: on hand now %(on_hand)s."
                ) % {
                    "kind": StockMovement.Kind(data_["kind"]).label,
                    "delta": f"{data_['delta']:+d}",
                    "sku": result.sku.code,
                    "warehouse": result.warehouse.code,
                    "on_hand": result.on_hand,
                }
                return self._done(request, result, message)
        return self._render(request, title=_("Correct stock"), form=form, level=level, submit=_("Correct"))

    def _transfer(self, request: HttpRequest, level: StockLevel | None) -> HttpResponse:
        initial = (
            {"sku_code": level.sku.code, "from_warehouse": level.warehouse_id} if level is not None else {}
        )
        data = request.POST if request.method == "POST" else None
        form = StockTransferForm(data, initial=initial, markets=_scope(request))
        if form.is_valid():
            data_ = form.cleaned_data
            try:
                source, target = services.stock_transfer(
                    sku_code=data_["sku_code"].strip(),
                    from_warehouse_code=data_["from_warehouse"].code,
                    to_warehouse_code=data_["to_warehouse"].code,
                    quantity=data_["quantity"],
                    reason=data_["reason"],
                    reference=data_["reference"],
                    actor=_actor(request),
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                message = gettext(
                    "Moved %(quantity)s × %(sku)s from %(source)s (on hand now %(source_on_hand)s) "
                    "to %(target)s (on hand now %(target_on_hand)s)."
                ) % {
                    "quantity": data_["quantity"],
                    "sku": source.sku.code,
                    "source": source.warehouse.code,
                    "source_on_hand": source.on_hand,
                    "target": target.warehouse.code,
                    "target_on_hand": target.on_hand,
                }
                self.log_change(request, target, message)
                return self._done(request, source, message)
        return self._render(request, title=_("Transfer stock"), form=form, level=level, submit=_("Transfer"))

    @action(
        description=_("Transfer stock"),
        url_path="transfer",
        icon="local_shipping",
        permissions=["move_stock"],
    )
    def transfer_stock(self, request: HttpRequest) -> HttpResponse:
        level_id = request.GET.get("level", "")
        return self._transfer(request, self._level(request, level_id) if level_id else None)

    @action(description=_("Transfer"), url_path="transfer", icon="local_shipping", permissions=["move_stock"])
    def transfer_stock_row(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return self._transfer(request, self._level(request, object_id))


# --- The stock ledger ---------------------------------------------------------------
class MarketDayRangeFilter(RangeDateFilter):
    """From and to a day of the market's calendar (the admin's active time zone), both
    included: unfold's date range compares a timestamp with midnight, which would leave
    out the "to" day."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        filters = {}
        for suffix, lookup in (("_from", "gte"), ("_to", "lte")):
            value = self.used_parameters.get(f"{self.parameter_name}{suffix}")
            day = parse_date_str(value) if isinstance(value, str) and value else None
            if day is not None:
                filters[f"{self.parameter_name}__date__{lookup}"] = day
        return queryset.filter(**filters)


class ActorFilter(admin.SimpleListFilter):
    """Who moved the stock: the people in the ledger, and "system" (sales, seeds)."""

    title = _("actor")
    parameter_name = "actor"
    SYSTEM = "system"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        people = (
            User.objects.filter(pk__in=StockMovement.objects.exclude(actor=None).values("actor_id"))
            .order_by("email")
            .values_list("pk", "email")
        )
        return [(self.SYSTEM, _("System (no person)")), *[(str(pk), email) for pk, email in people]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StockMovement]) -> QuerySet[StockMovement]:
        value = self.value()
        if value == self.SYSTEM:
            return queryset.filter(actor=None)
        if value and value.isdigit():
            return queryset.filter(actor_id=int(value))
        return queryset


class StockMovementExport(ListResource):
    """The ledger list as a file (``apps.core.admin_export``): the list's columns, the
    time in UTC, product names and the services' reasons in the staff member's language
    (a reason a person typed stays as typed)."""

    when = column(_("time (UTC)"), lambda m: utc_iso(m.created_at))
    product = column(_("product"), lambda m: str(m.sku.product.name))
    sku_code = column(_("SKU code"), lambda m: m.sku.code)
    warehouse = column(_("warehouse"), lambda m: m.warehouse.code)
    kind = column(_("kind"), lambda m: m.get_kind_display())
    change = column(_("change"), lambda m: m.delta)
    on_hand_before = column(_("on hand before"), lambda m: m.on_hand_before)
    on_hand_after = column(_("on hand after"), lambda m: m.on_hand_after)
    actor = column(_("actor"), lambda m: m.actor.email if m.actor else "")
    reason = column(_("reason"), lambda m: m.reason_display)
    reference = column(_("reference"), lambda m: m.reference)
    movement_id = column(_("movement id"), lambda m: m.pk)


@admin.register(StockMovement)
class StockMovementAdmin(ListExportMixin, ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    """The append-only stock ledger: every change of on-hand stock with who, why and
    the count before and after. Nobody adds, changes or deletes a row here."""

    market_scope_field = "warehouse__market"
    list_display = (
        "when",
        "product",
        "sku_code",
        "warehouse",
        "kind",
        "change",
        "on_hand_before",
        "on_hand_after",
        "actor",
        "reason_shown",
        "reference",
    )
    list_display_links = None
    list_filter = (
        "kind",
        ("warehouse", RelatedDropdownFilter),
        ("created_at", MarketDayRangeFilter),
        ActorFilter,
    )
    list_filter_submit = True
    search_fields = ("sku__code", "sku__product__name_ko", "sku__product__name_en", "reference")
    list_select_related = ("sku__product", "warehouse", "actor")
    ordering = ("-created_at", "-id")
    show_full_result_count = False  # the ledger grows without bound: no COUNT(*) per page
    actions = None
    resource_classes = [StockMovementExport]
    export_name = "stock-ledger"

    @admin.display(description=_("time"), ordering="created_at")
    def when(self, obj: StockMovement) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("product"))
    def product(self, obj: StockMovement) -> str:
        return str(obj.sku.product.name)

    @admin.display(description=_("SKU code"), ordering="sku__code")
    def sku_code(self, obj: StockMovement) -> str:
        return str(obj.sku.code)

    @admin.display(description=_("change"), ordering="delta")
    def change(self, obj: StockMovement) -> str:
        return f"{obj.delta:+d}"

    @admin.display(description=_("reason"), ordering="reason")
    def reason_shown(self, obj: StockMovement) -> str:
        return obj.reason_display


# --- Reservations -------------------------------------------------------------------
@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    """Held units (carts, orders awaiting payment): written by checkout and the expiry
    tasks only, read here to see who holds what until when."""

    market_scope_field = "market"
    list_display = ("owner", "product", "sku_code", "warehouse", "quantity", "status", "expires", "created")
    list_display_links = None
    list_filter = ("status", "market", ("warehouse", RelatedDropdownFilter))
    list_filter_submit = True
    search_fields = ("owner", "sku__code")
    list_select_related = ("sku__product", "warehouse")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    actions = None

    @admin.display(description=_("product"))
    def product(self, obj: Reservation) -> str:
        return str(obj.sku.product.name)

    @admin.display(description=_("SKU code"), ordering="sku__code")
    def sku_code(self, obj: Reservation) -> str:
        return str(obj.sku.code)

    @admin.display(description=_("expires at"), ordering="expires_at")
    def expires(self, obj: Reservation) -> str | None:
        return datetime_cell(obj.expires_at)

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj: Reservation) -> str | None:
        return datetime_cell(obj.created_at)
