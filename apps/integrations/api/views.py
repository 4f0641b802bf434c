"""The data platform's API (API.md "External data platform"): the pull feed of outbox
events, redelivery requests and the outbox's health.

Who may call what (``apps.integrations.apps.IntegrationsConfig.role_grants``):

* ``GET /integrations/events``: system clients with ``core.view_outboxevent``, i.e. the
  ``data_platform`` role (client-credentials token). Staff read events in the back office.
* ``POST /integrations/redeliveries``: ``core.change_outboxevent`` (``data_platform`` and
  ``ops_admin``): putting events back in the relay's queue is the one change anyone may
  make to an outbox row.
* ``GET /integrations/outbox/stats``: ``core.view_outboxevent`` (``data_platform`` and
  ``ops_admin``).

A data-platform token reaches nothing else: these views say ``system_clients_allowed``,
and ``apps.accounts.authentication`` refuses a system client's token (403) on every view
that does not, public ones included; views that read no credentials at all
(``authentication_classes = []``) answer it as a guest. tests/integrations/test_api_rbac.py
walks the URL conf.
"""

from __future__ import annotations

from typing import Any

import structlog
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from apps.accounts.permissions import HasPerm, IsSystemClient
from apps.core import outbox
from apps.core.api.schema import problem_responses
from apps.core.errors import (
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    LoginRequired,
    PermissionDenied,
    RequestInvalid,
)
from apps.core.idempotency import idempotent
from apps.integrations import selectors
from apps.integrations.api.serializers import (
    EventSerializer,
    FeedQuerySerializer,
    RedeliveryInputSerializer,
    StatsSerializer,
    event_json,
)

logger = structlog.get_logger(__name__)

VIEW_EVENTS = "core.view_outboxevent"
REDELIVER = "core.change_outboxevent"
_AUTH_ERRORS = (LoginRequired, PermissionDenied)

OPTIONAL_IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Optional, 1-255 visible ASCII characters: a retry with the same key gets the "
    "stored response (`Idempotent-Replayed: true`) instead of queueing the events again.",
)

FEED_DESCRIPTION = """Outbox events in `sequence` order, oldest first: the pull side of the
webhook (docs/events.md has every type's payload). Page with `after=<sequence of the last
event you stored>` (the `next` link does it for you); `has_more` is true when the page was
full, so call `next` at once; otherwise poll `next` later.

**`sequence` is not commit order.** It is drawn when an event is published, not when its
transaction commits, so an event may become visible after events with higher numbers. The
feed therefore stops before a hole in the numbering that is younger than a settle time
(30 s by default): the missing event is either still committing (it will be served, in
order, once visible) or rolled back (after the settle time the feed reads past the hole).
A transaction that commits later than that settle time after publishing would be skipped
by a reader that only moves forward: a consumer that must never miss an event should
re-read a small overlap window (for example `after=<last sequence - 1000>`, deduplicating
on `id`) or rely on the webhook, which delivers every committed event whatever its number.
Events are kept for the retention period (15 days by default) whatever their delivery
status. Delivery is at least once: dedupe on `id`, order per aggregate by
`aggregate_sequence`."""


class EventFeedApi(APIView):
    """The pull feed (data platform only)."""

    system_clients_allowed = True
    permission_classes = [IsSystemClient, HasPerm(VIEW_EVENTS)]

    class OutputSerializer(serializers.Serializer):
        results = EventSerializer(many=True)
        next = serializers.URLField(
            help_text="Where to continue: this query with `after` moved past the page."
        )
        has_more = serializers.BooleanField(help_text="The page was full: more events are ready now.")

    @extend_schema(
        operation_id="integrations_events_list",
        summary="Pull outbox events in sequence order",
        description=FEED_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "after",
                OpenApiTypes.INT,
                description="Serve events with a higher `sequence` (default 0: from the oldest kept).",
            ),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-1000, default 100."),
        ],
        responses={200: OutputSerializer, **problem_responses(*_AUTH_ERRORS, RequestInvalid)},
        tags=["integrations"],
    )
    def get(self, request: Request) -> Response:
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data["after"], query.validated_data["limit"]
        page = selectors.outbox_event_feed(after=after, limit=limit)
        last = page.events[-1].sequence if page.events else after
        url = replace_query_param(request.build_absolute_uri(), "after", last)
        url = replace_query_param(url, "limit", limit)
        return Response(
            {"results": [event_json(e) for e in page.events], "next": url, "has_more": page.has_more}
        )


class RedeliveryCreateApi(APIView):
    """Queue events for webhook delivery again (data platform and operations)."""

    system_clients_allowed = True
    permission_classes = [HasPerm(REDELIVER)]

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField(help_text="Events queued for delivery again.")
        not_found = serializers.ListField(
            child=serializers.UUIDField(),
            help_text="Requested ids that are not in the outbox (never existed or past retention); "
            "empty for a time range.",
        )

    @extend_schema(
        operation_id="integrations_redeliveries_create",
        summary="Request redelivery of events",
        description=(
            "Body: either `event_ids` (1-1000 ids) or a time range `from`/`to` (ISO 8601, on "
            "`occurred_at`; `from` inclusive, `to` exclusive), not both. Every matching event is "
            "put back in the webhook queue, whatever its status (`failed` and `delivered` ones "
            "too) with a fresh attempt count; the relay sends them as soon as it can. Answers 202 "
            "with how many were queued, and which requested ids were not found."
        ),
        request=RedeliveryInputSerializer,
        parameters=[OPTIONAL_IDEMPOTENCY_KEY],
        responses={
            202: OutputSerializer,
            **problem_responses(
                *_AUTH_ERRORS,
                RequestInvalid,
                IdempotencyKeyInvalid,
                IdempotencyKeyReused,
                IdempotencyInProgress,
            ),
        },
        tags=["integrations"],
    )
    @idempotent(required=False)
    def post(self, request: Request) -> Response:
        serializer = RedeliveryInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        ids = data.get("event_ids")
        if ids is not None:
            not_found = sorted(set(ids) - selectors.outbox_event_ids_existing(event_ids=ids), key=str)
            count = outbox.outbox_requeue(event_ids=ids)
            logger.info(
                "integrations.redelivery_requested",
                by="ids",
                requested=len(ids),
                count=count,
                not_found=len(not_found),
                actor_id=request.user.pk,
            )
        else:
            not_found = []
            count = outbox.outbox_requeue(since=data["from"], until=data["to"])
            logger.info(
                "integrations.redelivery_requested",
                by="range",
                since=data["from"].isoformat(),
                until=data["to"].isoformat(),
                count=count,
                actor_id=request.user.pk,
            )
        return Response(
            {"count": count, "not_found": [str(i) for i in not_found]}, status=status.HTTP_202_ACCEPTED
        )


class OutboxStatsApi(APIView):
    """How far behind delivery is (data platform and operations)."""

    system_clients_allowed = True
    permission_classes = [HasPerm(VIEW_EVENTS)]

    @extend_schema(
        operation_id="integrations_outbox_stats",
        summary="Outbox backlog and delivery health",
        description=(
            "Events per status; `oldest_pending_age_seconds`: age of the oldest event not "
            "delivered yet (`pending` or `delivering`), 0 when none; `last_success_at`: when the "
            "last acknowledged webhook call ended (null if none on record); `deliveries_last_5m`: "
            "webhook calls (batches) in the last five minutes, acknowledged (`ok`) or not (`failed`: "
            "HTTP errors, timeouts, connection errors and calls skipped by the open circuit)."
        ),
        responses={200: StatsSerializer, **problem_responses(*_AUTH_ERRORS)},
        tags=["integrations"],
    )
    def get(self, request: Request) -> Response:
        stats = selectors.outbox_stats()
        return Response(StatsSerializer(stats).data)
