"""Orders in the back office (issue 20, item 9): for customer service and operations only;
inventory and marketing have no orders permission, so they see no item and get 403 on
every URL here.

* **Orders** are read-only for everyone, superusers included, and so are their lines,
  payments, refunds and status history (shown on the order's page, never registered as
  editable screens): rows are written by ``apps.orders.services`` only. The list is
  scoped to the staff member's markets; an order of another market is a 404, not a
  redirect that confirms it exists.
* **Search** finds the order number, the member's email and name. Not the phone: it is
  encrypted at rest with no searchable digest (the customer list does not search it
  either), so a phone number cannot be matched without decrypting every member.
* **Change status** (``orders.transition_order``) is a form that calls
  ``services.order_transition`` and nothing else. It offers only the moves the user may
  take from the order's status (``apps.orders.state``: customer service
  ``CS_TRANSITIONS``, operations every legal move) and asks for a reason; the service's
  refusal (not allowed for the role, return window closed, payment being confirmed...)
  is the form's localized error, with nothing changed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.utils import display_for_label

from apps.accounts.admin import MarketScopedAdminMixin
from apps.accounts.admin_search import PhoneSearchMixin
from apps.accounts.models import User
from apps.accounts.selectors import staff_markets
from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell, money_cell
from apps.core.admin_export import ListExportMixin, ListResource, column, utc_iso
from apps.core.errors import DomainError
from apps.core.models import OutboxEvent
from apps.markets.models import Market
from apps.orders import services, state
from apps.orders.admin_forms import OrderTransitionForm
from apps.orders.models import Order, OrderLine, OrderPayment, OrderRefund, OrderStatusChange
from apps.orders.selectors import reason_display
from apps.payments.admin import MarketDayRangeFilter

TRANSITION = "orders.transition_order"
FORCE = "orders.force_transition"

#: Status -> unfold badge colour.
STATUS_BADGES = {
    Order.Status.PENDING: "warning",
    Order.Status.PAID: "info",
    Order.Status.FULFILLED: "success",
    Order.Status.REFUNDED: "danger",
    Order.Status.CANCELLED: "",
}
#: Payload keys every order event repeats (the order itself): left out of the summary.
_PAYLOAD_SKIP = {"order_id", "number", "user_id", "currency"}
_PAYLOAD_MONEY = {"total", "refunded_amount", "amount", "refund_amount"}
SUMMARY_MAX = 200


def _member(user: User) -> str:
    return f"{user.name} · {user.email}" if user.name else user.email


def _status_label(value: str) -> str:
    return str(Order.Status(value).label) if value in Order.Status.values else value


def transition_targets(user: Any, order: Order) -> list[tuple[str, str]]:
    """The moves ``user`` may take from the order's status, as (status, label): every
    legal one for operations (``orders.force_transition``), the legal ones inside
    ``CS_TRANSITIONS`` for customer service, none without ``orders.transition_order``."""
    legal = state.legal_targets(order.status)
    if user.has_perm(FORCE):
        allowed = legal
    elif user.has_perm(TRANSITION):
        allowed = [to for to in legal if (order.status, to) in state.CS_TRANSITIONS]
    else:
        allowed = []
    return [(to, _status_label(to)) for to in allowed]


def _scope_codes(user: Any) -> list[str]:
    """The service's ``markets`` argument: the staff member's markets, every market when
    they are not scoped."""
    markets = staff_markets(user)
    if markets is None:
        return list(Market.objects.order_by("code").values_list("code", flat=True))
    return sorted(markets)


def payload_summary(payload: dict[str, Any], currency: str) -> str:
    """``status: paid · total: ₩52,100 · reason: shipped``: the facts of an event at a
    glance (the order's own ids left out), cut at ``SUMMARY_MAX`` characters."""
    parts = []
    for key, value in payload.items():
        if key in _PAYLOAD_SKIP or value in (None, "", [], {}):
            continue
        if key in _PAYLOAD_MONEY and isinstance(value, int):
            shown = money_cell(value, str(payload.get("currency") or currency)) or str(value)
        elif isinstance(value, list):
            shown = f"[{len(value)}]"
        elif isinstance(value, dict):
            shown = "{…}"
        else:
            shown = str(value)
        parts.append(f"{key}: {shown}")
    text = " · ".join(parts)
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _address_lines(address: Any) -> list[str]:
    """The shipping address as the label on the parcel reads, one line each."""
    if not isinstance(address, dict):
        return []
    keys = (("recipient",), ("line1", "line2"), ("city", "region", "postal_code"), ("country",), ("phone",))
    lines = [" ".join(str(address[k]) for k in group if address.get(k)) for group in keys]
    return [line for line in lines if line]


class OrderExport(ListResource):
    """The orders list as a file (``apps.core.admin_export``): what the list shows (the
    member by email, no phone, no address), amounts in minor units, times in UTC."""

    number = column(_("order number"), lambda o: o.number)
    market = column(_("market"), lambda o: o.market_id)
    member = column(_("member email"), lambda o: o.user.email)
    status = column(_("status"), lambda o: _status_label(o.status))
    currency = column(_("currency"), lambda o: o.currency)
    total = column(_("total (minor units)"), lambda o: o.total)
    coupon_discount = column(_("coupon discount (minor units)"), lambda o: o.coupon_discount)
    refunded = column(_("refunded (minor units)"), lambda o: o.refunded_amount)
    placed = column(_("placed at (UTC)"), lambda o: utc_iso(o.created_at))
    paid = column(_("paid at (UTC)"), lambda o: utc_iso(o.paid_at))


@admin.register(Order)
class OrderAdmin(ListExportMixin, PhoneSearchMixin, ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    market_scope_field = "market"
    resource_classes = [OrderExport]
    export_name = "orders"
    list_display = ("number", "member", "status_badge", "total_shown", "placed", "paid")
    list_filter = ("status", "market", ("created_at", MarketDayRangeFilter))
    list_filter_submit = True
    search_fields = ("number", "user__email", "user__name")
    phone_index_lookup = "user__phone_index"  # and the member's phone (PhoneSearchMixin)
    list_select_related = ("user",)
    ordering = ("-created_at", "-pk")
    show_full_result_count = False  # orders grow without bound: no second COUNT(*) per page
    actions = None
    actions_detail = ("change_status",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "member",
                    "market_code",
                    "status_shown",
                    "placed",
                    "pay_by",
                    "paid",
                    "fulfilled",
                    "cancelled",
                    "refunded",
                    "coupon_code",
                )
            },
        ),
        (
            _("Amounts"),
            {
                "fields": (
                    "subtotal_shown",
                    "sale_discount_shown",
                    "coupon_discount_shown",
                    "tax_shown",
                    "shipping_fee_shown",
                    "total_shown",
                    "refunded_amount_shown",
                )
            },
        ),
    )
    readonly_fields = (
        "number",
        "member",
        "market_code",
        "status_shown",
        "placed",
        "pay_by",
        "paid",
        "fulfilled",
        "cancelled",
        "refunded",
        "coupon_code",
        "subtotal_shown",
        "sale_discount_shown",
        "coupon_discount_shown",
        "tax_shown",
        "shipping_fee_shown",
        "total_shown",
        "refunded_amount_shown",
    )
    change_form_after_template = "admin/orders/order_detail.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).select_related("user", "market")

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """Scoped (another market's order is 404, like a missing one) and read once per
        request: the page, its sections and the status form share it."""
        cache: dict[str, Order] = request.__dict__.setdefault("_orders_admin_objects", {})
        if object_id not in cache:
            obj = super().get_object(request, object_id, from_field)
            if obj is None:
                raise Http404
            cache[object_id] = obj
        return cache[object_id]

    # --- Cells ------------------------------------------------------------------------
    @admin.display(description=_("member"), ordering="user__email")
    def member(self, obj: Order) -> str:
        return _member(obj.user)

    @admin.display(description=_("market"), ordering="market")
    def market_code(self, obj: Order) -> str:
        return f"{obj.market_id} · {obj.currency}"

    @display(description=_("status"), ordering="status", label=STATUS_BADGES)
    def status_badge(self, obj: Order) -> tuple[str, str]:
        return obj.status, _status_label(obj.status)

    @admin.display(description=_("status"))
    def status_shown(self, obj: Order) -> str:
        """The list's badge on the order's page (unfold's read-only fields do not apply
        a ``label`` mapping themselves)."""
        return display_for_label((obj.status, _status_label(obj.status)), "-", STATUS_BADGES)

    @admin.display(description=_("total"), ordering="total")
    def total_shown(self, obj: Order) -> str | None:
        return money_cell(obj.total, obj.currency)

    @admin.display(description=_("subtotal"))
    def subtotal_shown(self, obj: Order) -> str | None:
        return money_cell(obj.subtotal, obj.currency)

    @admin.display(description=_("sale discount"))
    def sale_discount_shown(self, obj: Order) -> str | None:
        return money_cell(obj.sale_discount, obj.currency)

    @admin.display(description=_("coupon discount"))
    def coupon_discount_shown(self, obj: Order) -> str | None:
        return money_cell(obj.coupon_discount, obj.currency)

    @admin.display(description=_("tax"))
    def tax_shown(self, obj: Order) -> str | None:
        shown = money_cell(obj.tax, obj.currency)
        return gettext("%(tax)s (included in prices)") % {"tax": shown} if obj.tax_included else shown

    @admin.display(description=_("shipping fee"))
    def shipping_fee_shown(self, obj: Order) -> str | None:
        return money_cell(obj.shipping_fee, obj.currency)

    @admin.display(description=_("refunded"))
    def refunded_amount_shown(self, obj: Order) -> str | None:
        return money_cell(obj.refunded_amount, obj.currency)

    @admin.display(description=_("placed at"), ordering="created_at")
    def placed(self, obj: Order) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("pay by"))
    def pay_by(self, obj: Order) -> str | None:
        return datetime_cell(obj.expires_at) if obj.status == Order.Status.PENDING else None

    @admin.display(description=_("paid at"), ordering="paid_at")
    def paid(self, obj: Order) -> str | None:
        return datetime_cell(obj.paid_at)

    @admin.display(description=_("fulfilled at"))
    def fulfilled(self, obj: Order) -> str | None:
        return datetime_cell(obj.fulfilled_at)

    @admin.display(description=_("cancelled at"))
    def cancelled(self, obj: Order) -> str | None:
        return datetime_cell(obj.cancelled_at)

    @admin.display(description=_("refunded at"))
    def refunded(self, obj: Order) -> str | None:
        return datetime_cell(obj.refunded_at)

    # --- The order's page ---------------------------------------------------------------
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The header facts, then lines, payments, refunds, status history, the order's
        outbox events and the shipping address (``admin/orders/order_detail.html``)."""
        order = self.get_object(request, object_id)
        context = {**(extra_context or {}), **self._sections(order)}
        return super().change_view(request, object_id, form_url, context)

    def get_actions_detail(self, request: HttpRequest, object_id: Any) -> list[Any]:
        """No "Change status" button on an order this user can move nowhere (cancelled,
        refunded, or outside their policy); the form itself still answers, and says so."""
        actions = super().get_actions_detail(request, object_id)
        if not transition_targets(request.user, self.get_object(request, str(object_id))):
            actions = [a for a in actions if a.action_name != "orders_order_change_status"]
        return actions

    def _sections(self, order: Order) -> dict[str, Any]:
        currency = order.currency
        language = translation.get_language()

        def money(amount: int) -> str | None:
            return money_cell(amount, currency)

        lines = [
            {
                "position": line.position,
                "name": line.name(language),
                "sku": line.sku_code,
                "quantity": line.quantity,
                "list_price": money(line.list_price),
                "unit_price": money(line.unit_price),
                "coupon_share": money(line.coupon_share),
                "tax_share": money(line.tax_share),
                "shipping_share": money(line.shipping_share),
                "line_total": money(line.line_total),
                "refunded_quantity": line.refunded_quantity,
                "refunded_amount": money(line.refunded_amount) if line.refunded_amount else "",
            }
            for line in OrderLine.objects.filter(order=order).order_by("position")
        ]
        payments = [
            {
                "method": payment.get_method_display(),
                "payment_method": payment.payment_method.display_label if payment.payment_method else "",
                "status": payment.get_status_display(),
                "amount": money_cell(payment.amount, payment.currency),
                "failure": payment.failure_code,
                "created": datetime_cell(payment.created_at),
                "captured": datetime_cell(payment.captured_at),
            }
            for payment in OrderPayment.objects.filter(order=order)
            .select_related("payment_method")
            .order_by("created_at", "pk")
        ]
        refunds = [
            {
                "amount": money_cell(refund.amount, refund.currency),
                "destination": refund.get_destination_display(),
                "status": refund.get_status_display(),
                "lines": ", ".join(f"#{part.get('line')} × {part.get('quantity')}" for part in refund.lines),
                "reason": reason_display(refund.reason),
                "by": refund.actor.email if refund.actor else "",
                "created": datetime_cell(refund.created_at),
            }
            for refund in OrderRefund.objects.filter(order=order)
            .select_related("actor")
            .order_by("created_at", "pk")
        ]
        kinds = {"member": gettext("member"), "staff": gettext("staff"), "system": gettext("system")}
        history = [
            {
                "from": _status_label(change.from_status) if change.from_status else "",
                "to": _status_label(change.to_status),
                "by": change.actor.email if change.actor else kinds.get(change.actor_kind, change.actor_kind),
                "by_kind": kinds.get(change.actor_kind, change.actor_kind),
                "reason": reason_display(change.reason),
                "when": datetime_cell(change.created_at),
            }
            for change in OrderStatusChange.objects.filter(order=order)
            .select_related("actor")
            .order_by("created_at", "pk")
        ]
        events = [
            {
                "type": event.type,
                "when": datetime_cell(event.occurred_at),
                "summary": payload_summary(event.payload or {}, currency),
                "delivery": event.get_status_display(),
            }
            for event in OutboxEvent.objects.filter(
                aggregate_type="order", aggregate_id=str(order.public_id)
            ).order_by("aggregate_sequence")
        ]
        return {
            "order_lines": lines,
            "order_payments": payments,
            "order_refunds": refunds,
            "order_history": history,
            "order_events": events,
            "order_address": _address_lines(order.shipping_address),
        }

    # --- Change status ------------------------------------------------------------------
    def has_transition_order_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Customer service (within policy) and operations (any legal move)."""
        return bool(request.user.has_perm(TRANSITION))

    @action(
        description=_("Change status"),
        url_path="change-status",
        icon="swap_horiz",
        permissions=["transition_order"],
    )
    def change_status(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Move the order through ``services.order_transition`` (never a model write here):
        the moves offered are the user's (``transition_targets``), a reason is required,
        the service's refusal is the form's error with nothing changed."""
        order = self.get_object(request, object_id)
        actor = request.user
        assert isinstance(actor, User)
        targets = transition_targets(actor, order)
        form = OrderTransitionForm(request.POST if request.method == "POST" else None, targets=targets)
        back = reverse("admin:orders_order_change", args=[order.pk])
        if form.is_valid():
            to_status = form.cleaned_data["to_status"]
            try:
                moved = services.order_transition(
                    order_id=str(order.public_id),
                    to_status=to_status,
                    actor=actor,
                    reason=form.cleaned_data["reason"],
                    markets=_scope_codes(actor),
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                message = gettext("Order %(number)s is now %(status)s.") % {
                    "number": moved.number,
                    "status": _status_label(moved.status),
                }
                self.log_change(request, moved, message)
                self.message_user(request, message, messages.SUCCESS)
                return redirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Change status"),
            "opts": self.model._meta,
            "original": order,
            "order": order,
            "member": _member(order.user),
            "status": _status_label(order.status),
            "total": money_cell(order.total, order.currency),
            "form": form,
            "has_targets": bool(targets),
            "back_url": back,
        }
        return TemplateResponse(request, "admin/orders/order_transition.html", context)
