"""The outbox ops page (issue 22, "Monitoring"): for operations only. Other staff roles have
no outbox permission, so they see no item and get 403 on every URL here; the data platform
has no back office (a system client is not staff).

* **Outbox events** (core's table, shown here because the relay is this app's): read-only
  for everyone, superusers included; rows are written by ``apps.core.outbox`` only. Filters
  by status, type and market; the search finds an event id, an aggregate id or a sequence.
  An event's page shows its payload and every delivery attempt that carried it (outcome,
  HTTP status, error, duration, worker, time).
* **Redeliver** (``core.change_outboxevent``): the list's action on the selected events and
  a button on an event's page (a POST form), both through ``apps.core.outbox.outbox_requeue``
  and nothing else; each redelivered event gets an entry in its admin history and the
  request is logged (``integrations.redelivery_requested``).
* **Health** above the list: events per status, the oldest undelivered event's age, the last
  acknowledged call and the calls of the last five minutes (``selectors.outbox_stats``, the
  same numbers as ``GET /integrations/outbox/stats``).
* **Delivery attempts**: one row per webhook call, read-only, with the events it carried.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display

from apps.core import outbox
from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell
from apps.core.models import OutboxEvent
from apps.integrations.models import DeliveryAttempt
from apps.integrations.selectors import outbox_stats

logger = structlog.get_logger(__name__)

REDELIVER = "core.change_outboxevent"
#: Most events one "Redeliver" action queues (each gets an entry in its admin history).
REDELIVER_MAX = 1000
#: Attempts listed on an event's page (newest first); the rest are in the attempts list.
ATTEMPTS_SHOWN = 50
ERROR_CELL_MAX = 80

STATUS_BADGES = {
    OutboxEvent.Status.PENDING: "warning",
    OutboxEvent.Status.DELIVERING: "info",
    OutboxEvent.Status.DELIVERED: "success",
    OutboxEvent.Status.FAILED: "danger",
}
OUTCOME_BADGES = {
    DeliveryAttempt.Outcome.OK: "success",
    DeliveryAttempt.Outcome.HTTP_ERROR: "danger",
    DeliveryAttempt.Outcome.TIMEOUT: "warning",
    DeliveryAttempt.Outcome.CONNECTION_ERROR: "danger",
    DeliveryAttempt.Outcome.CIRCUIT_OPEN: "",
}
#: The event types of API.md and docs/events.md (the type filter offers these, without a
#: DISTINCT over the whole outbox).
EVENT_TYPES = (
    "order.created",
    "order.paid",
    "order.cancelled",
    "order.fulfilled",
    "order.refunded",
    "order.partially_refunded",
    "coupon.issued",
    "coupon.used",
    "coupon.revoked",
    "inventory.adjusted",
    "inventory.reserved",
    "inventory.released",
    "inventory.committed",
    "wallet.credited",
    "wallet.debited",
)


def _clipped(text: str, limit: int = ERROR_CELL_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: The outbox's statuses in the staff member's language (core's model labels are English).
STATUS_LABELS = {
    OutboxEvent.Status.PENDING: pgettext_lazy("outbox", "Pending"),
    OutboxEvent.Status.DELIVERING: pgettext_lazy("outbox", "Delivering"),
    OutboxEvent.Status.DELIVERED: pgettext_lazy("outbox", "Delivered"),
    OutboxEvent.Status.FAILED: pgettext_lazy("outbox", "Failed"),
}


def _status_label(value: str) -> str:
    label = STATUS_LABELS.get(value)  # type: ignore[call-overload]
    return str(label) if label is not None else value


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(STATUS_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(status=self.value()) if self.value() else queryset


class EventTypeFilter(admin.SimpleListFilter):
    title = _("type")
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(t, t) for t in EVENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(type=self.value()) if self.value() else queryset


class MarketFilter(admin.SimpleListFilter):
    """``?event_market=``: ``?market=`` is the admin's own market choice (the middleware)."""

    title = _("market")
    parameter_name = "event_market"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("KR", "KR"), ("US", "US"), ("-", _("none"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(market="" if value == "-" else value)


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = (
        "sequence_shown",
        "type_shown",
        "market_shown",
        "aggregate",
        "status_badge",
        "attempts_shown",
        "occurred",
        "next_attempt",
        "last_error_shown",
    )
    list_filter = (StatusFilter, EventTypeFilter, MarketFilter)
    list_filter_submit = True
    search_fields = ("aggregate_id",)
    search_help_text = _(
        "An event id, an aggregate id (an order's id, order:123, a wallet id...) or a sequence."
    )
    ordering = ("-sequence",)
    show_full_result_count = False  # the outbox holds weeks of events: no second COUNT(*)
    list_per_page = 50
    actions = ["redeliver_selected"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "event_id",
                    "sequence_shown",
                    "type_shown",
                    "version_shown",
                    "market_shown",
                    "aggregate",
                    "aggregate_sequence_shown",
                    "occurred",
                )
            },
        ),
        (
            _("Delivery"),
            {
                "fields": (
                    "status_shown",
                    "attempts_shown",
                    "next_attempt",
                    "lease",
                    "claimed_by_shown",
                    "delivered",
                    "last_error_full",
                )
            },
        ),
        (_("Payload"), {"fields": ("payload_shown",)}),
    )
    readonly_fields = (
        "event_id",
        "sequence_shown",
        "type_shown",
        "version_shown",
        "market_shown",
        "aggregate",
        "aggregate_sequence_shown",
        "occurred",
        "status_shown",
        "attempts_shown",
        "next_attempt",
        "lease",
        "claimed_by_shown",
        "delivered",
        "last_error_full",
        "payload_shown",
    )
    change_form_after_template = "admin/integrations/outboxevent_detail.html"
    list_before_template = "admin/integrations/outbox_stats.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, under the outbox's health (``selectors.outbox_stats``, as the data
        platform's ``GET /integrations/outbox/stats``): how far behind delivery is."""
        stats = outbox_stats()
        context = {
            "title": _("Outbox events"),
            **(extra_context or {}),
            "outbox_stats": stats,
            "outbox_last_success": datetime_cell(stats["last_success_at"]),
            "outbox_failed_url": "?status=failed",
        }
        return super().changelist_view(request, context)

    # --- Search: an id, an aggregate id or a sequence ------------------------------------
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[OutboxEvent], search_term: str
    ) -> tuple[QuerySet[OutboxEvent], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            event_id = uuid.UUID(term)
        except ValueError:
            pass
        else:  # an event's id, or an aggregate's (an order's public id is a UUID)
            return queryset.filter(pk=event_id) | queryset.filter(aggregate_id=term), False
        if term.isdigit() and len(term) < 19:
            return queryset.filter(sequence=int(term)) | queryset.filter(aggregate_id=term), False
        return queryset.filter(aggregate_id=term), False

    # --- Cells ---------------------------------------------------------------------------
    @admin.display(description=_("event id"))
    def event_id(self, obj: OutboxEvent) -> str:
        return str(obj.pk)

    # core's model has no translated field names: the columns carry their own.
    @admin.display(description=_("sequence"), ordering="sequence")
    def sequence_shown(self, obj: OutboxEvent) -> int:
        return obj.sequence

    @admin.display(description=_("type"), ordering="type")
    def type_shown(self, obj: OutboxEvent) -> str:
        return obj.type

    @admin.display(description=_("version"))
    def version_shown(self, obj: OutboxEvent) -> int:
        return obj.version

    @admin.display(description=_("aggregate sequence"))
    def aggregate_sequence_shown(self, obj: OutboxEvent) -> int:
        return obj.aggregate_sequence

    @admin.display(description=_("attempts"), ordering="attempts")
    def attempts_shown(self, obj: OutboxEvent) -> int:
        return obj.attempts

    @admin.display(description=_("claimed by"))
    def claimed_by_shown(self, obj: OutboxEvent) -> str:
        return obj.claimed_by

    @admin.display(description=_("last error"))
    def last_error_full(self, obj: OutboxEvent) -> str:
        return obj.last_error

    @admin.display(description=_("market"), ordering="market")
    def market_shown(self, obj: OutboxEvent) -> str:
        return obj.market or "—"

    @admin.display(description=_("aggregate"))
    def aggregate(self, obj: OutboxEvent) -> str:
        return f"{obj.aggregate_type}:{obj.aggregate_id}"

    @display(description=_("status"), ordering="status", label=STATUS_BADGES)
    def status_badge(self, obj: OutboxEvent) -> tuple[str, str]:
        return obj.status, _status_label(obj.status)

    @admin.display(description=_("status"))
    def status_shown(self, obj: OutboxEvent) -> str:
        return _status_label(obj.status)

    @admin.display(description=_("occurred at"), ordering="occurred_at")
    def occurred(self, obj: OutboxEvent) -> str | None:
        return datetime_cell(obj.occurred_at)

    @admin.display(description=_("next attempt"))
    def next_attempt(self, obj: OutboxEvent) -> str | None:
        if obj.status != OutboxEvent.Status.PENDING:
            return None
        return datetime_cell(obj.next_attempt_at) if obj.next_attempt_at else gettext("as soon as possible")

    @admin.display(description=_("lease until"))
    def lease(self, obj: OutboxEvent) -> str | None:
        return datetime_cell(obj.lease_expires_at)

    @admin.display(description=_("delivered at"))
    def delivered(self, obj: OutboxEvent) -> str | None:
        return datetime_cell(obj.delivered_at)

    @admin.display(description=_("last error"))
    def last_error_shown(self, obj: OutboxEvent) -> str:
        return _clipped(obj.last_error)

    @admin.display(description=_("payload"))
    def payload_shown(self, obj: OutboxEvent) -> str:
        text = json.dumps(obj.payload, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre class="outbox-payload whitespace-pre-wrap break-all">{}</pre>', text)

    # --- The event's page: its attempts and the redeliver button --------------------------
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        event = self.get_object(request, object_id)
        if event is None:
            raise Http404
        attempts = list(
            DeliveryAttempt.objects.filter(events=event).order_by("-started_at", "-id")[: ATTEMPTS_SHOWN + 1]
        )
        context = {
            **(extra_context or {}),
            "attempt_rows": [
                {
                    "outcome": attempt.get_outcome_display(),
                    "ok": attempt.outcome == DeliveryAttempt.Outcome.OK,
                    "status_code": attempt.status_code or "",
                    "error": attempt.error,
                    "duration_ms": attempt.duration_ms,
                    "worker": attempt.worker,
                    "events": attempt.event_count,
                    "when": datetime_cell(attempt.started_at),
                    "url": reverse("admin:integrations_deliveryattempt_change", args=[attempt.pk]),
                }
                for attempt in attempts[:ATTEMPTS_SHOWN]
            ],
            "attempts_more": len(attempts) > ATTEMPTS_SHOWN,
            "attempts_url": reverse("admin:integrations_deliveryattempt_changelist") + f"?events={event.pk}",
            "redeliver_url": (
                reverse("admin:core_outboxevent_redeliver", args=[event.pk])
                if self.has_redeliver_permission(request)
                else ""
            ),
        }
        return super().change_view(request, object_id, form_url, context)

    # --- Redeliver -----------------------------------------------------------------------
    def redeliver(self, request: HttpRequest, events: list[OutboxEvent], *, source: str) -> int:
        """Queue ``events`` for delivery again (``outbox_requeue``, nothing else), with an
        entry in each event's admin history and one log line; returns how many."""
        ids = [event.pk for event in events]
        count = outbox.outbox_requeue(event_ids=ids)
        for event in events:
            note = gettext("Queued for redelivery (was %(status)s).") % {
                "status": _status_label(event.status)
            }
            self.log_change(request, event, note)
        logger.info(
            "integrations.redelivery_requested",
            by=source,
            requested=len(ids),
            count=count,
            actor_id=getattr(request.user, "pk", None),
            event_ids=[str(i) for i in ids[:20]],
        )
        return count

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        """Operations (``core.change_outboxevent``); the admin's change permission stays off
        (nobody edits an event)."""
        return bool(request.user.has_perm(REDELIVER))

    @admin.action(description=_("Redeliver the selected events"), permissions=["redeliver"])
    def redeliver_selected(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        """Every selected event back in the relay's queue, whatever its status; at most
        ``REDELIVER_MAX`` at once (each gets a history entry): more is a time range for the
        API (``POST /integrations/redeliveries``)."""
        events = list(queryset.order_by("sequence")[: REDELIVER_MAX + 1])
        if len(events) > REDELIVER_MAX:
            message = gettext(
                "Select at most %(max)s events at once (nothing was queued); for more, ask for "
                "a time range through POST /api/v1/integrations/redeliveries."
            ) % {"max": REDELIVER_MAX}
            self.message_user(request, message, messages.ERROR)
            return
        count = self.redeliver(request, events, source="admin_list")
        message = ngettext(
            "%(count)s event queued for redelivery.", "%(count)s events queued for redelivery.", count
        ) % {"count": count}
        self.message_user(request, message, messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/redeliver/", view(self.redeliver_view), name="core_outboxevent_redeliver"),
            *super().get_urls(),
        ]

    def redeliver_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST (the button on the event's page): this event back in the relay's queue. A GET
        changes nothing and goes back to the page."""
        if not self.has_view_permission(request) or not self.has_redeliver_permission(request):
            raise PermissionDenied
        event = self.get_object(request, object_id)
        if event is None:
            raise Http404
        back = reverse("admin:core_outboxevent_change", args=[event.pk])
        if request.method == "POST":
            self.redeliver(request, [event], source="admin_event")
            self.message_user(request, gettext("The event is queued for redelivery."), messages.SUCCESS)
        return redirect(back)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = (
        "started",
        "outcome_badge",
        "status_code",
        "event_count",
        "duration",
        "worker",
        "error_shown",
    )
    list_filter = ("outcome",)
    list_filter_submit = True
    search_fields = ("=batch_id", "worker")
    ordering = ("-started_at", "-id")
    show_full_result_count = False
    list_per_page = 50
    actions = None
    fields = (
        "batch",
        "started",
        "outcome_shown",
        "status_code",
        "duration",
        "worker",
        "event_count",
        "error",
        "events_shown",
    )
    readonly_fields = fields

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """``?events=<event id>`` (the link on an event's page): the attempts that carried it."""
        return lookup == "events" or super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("batch"))
    def batch(self, obj: DeliveryAttempt) -> str:
        return str(obj.batch_id)

    @admin.display(description=_("started at"), ordering="started_at")
    def started(self, obj: DeliveryAttempt) -> str | None:
        return datetime_cell(obj.started_at)

    @display(description=_("outcome"), ordering="outcome", label=OUTCOME_BADGES)
    def outcome_badge(self, obj: DeliveryAttempt) -> tuple[str, str]:
        return obj.outcome, obj.get_outcome_display()

    @admin.display(description=_("outcome"))
    def outcome_shown(self, obj: DeliveryAttempt) -> str:
        return str(obj.get_outcome_display())

    @admin.display(description=_("duration (ms)"), ordering="duration_ms")
    def duration(self, obj: DeliveryAttempt) -> int:
        return obj.duration_ms

    @admin.display(description=_("error"))
    def error_shown(self, obj: DeliveryAttempt) -> str:
        return _clipped(obj.error)

    @admin.display(description=_("events"))
    def events_shown(self, obj: DeliveryAttempt) -> str:
        """The events the call carried, each a link to its page (in sequence order)."""
        events = obj.events.order_by("sequence").only("pk", "sequence", "type")
        rows = [(reverse("admin:core_outboxevent_change", args=[e.pk]), e.sequence, e.type) for e in events]
        if not rows:
            return "—"
        return format_html_join(mark_safe("<br>"), '<a href="{}" class="text-primary-600">{} {}</a>', rows)
