"""Input and output shapes of the data platform's API (shared by its views and the schema)."""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.core.models import OutboxEvent
from apps.integrations.services import relay

#: ``GET /integrations/events``: page size bounds.
FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 1000
#: ``POST /integrations/redeliveries``: most ids in one request.
REDELIVERY_MAX_IDS = 1000
_MAX_SEQUENCE = 2**63 - 1


class EventSerializer(serializers.Serializer):
    """One event, as the webhook sends it (docs/events.md "Envelope")."""

    id = serializers.UUIDField()
    sequence = serializers.IntegerField(help_text="Global, increasing in allocation order; not commit order.")
    type = serializers.CharField(help_text="`<aggregate>.<past_tense>`, e.g. `order.paid`.")
    version = serializers.IntegerField(help_text="Payload version of this type.")
    occurred_at = serializers.DateTimeField()
    market = serializers.CharField(help_text="`KR`, `US`, or empty when no market applies.")
    aggregate_type = serializers.CharField()
    aggregate_id = serializers.CharField()
    aggregate_sequence = serializers.IntegerField(help_text="1, 2, 3... per aggregate, without gaps.")
    payload = serializers.DictField(help_text="Per type and version: docs/events.md.")


def event_json(event: OutboxEvent) -> dict[str, Any]:
    """The event exactly as the webhook sends it (the relay's wire format), ``occurred_at``
    as ISO 8601 UTC with milliseconds and ``Z``."""
    data = relay.event_json(event)
    data["occurred_at"] = DjangoJSONEncoder().default(event.occurred_at)
    return data


class FeedQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, max_value=_MAX_SEQUENCE, required=False, default=0)
    limit = serializers.IntegerField(
        min_value=1, max_value=FEED_MAX_LIMIT, required=False, default=FEED_DEFAULT_LIMIT
    )


class RedeliveryInputSerializer(serializers.Serializer):
    """Exactly one of ``event_ids`` or the range ``from``/``to``."""

    event_ids = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=REDELIVERY_MAX_IDS,
        required=False,
        help_text="Event ids (1-1000).",
    )
    from_ = serializers.DateTimeField(required=False, help_text="Range start on `occurred_at`, inclusive.")
    to = serializers.DateTimeField(required=False, help_text="Range end on `occurred_at`, exclusive.")

    def get_fields(self) -> dict[str, serializers.Field]:
        """``from`` is a Python keyword: the field is declared as ``from_`` and named here."""
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        ids, start, end = attrs.get("event_ids"), attrs.get("from"), attrs.get("to")
        has_range = start is not None or end is not None
        if ids is None and not has_range:
            raise serializers.ValidationError(
                {"event_ids": [_("Give event_ids, or a time range with from and to.")]}, code="required"
            )
        if ids is not None and has_range:
            raise serializers.ValidationError(
                {"event_ids": [_("Give either event_ids or a time range, not both.")]}, code="ambiguous"
            )
        if ids is not None:
            attrs["event_ids"] = list(dict.fromkeys(ids))
            return attrs
        if start is None or end is None:
            missing = "from" if start is None else "to"
            raise serializers.ValidationError(
                {missing: [_("A time range needs both from and to.")]}, code="required"
            )
        if end <= start:
            raise serializers.ValidationError(
                {"to": [_("The end must be after the start.")]}, code="before_start"
            )
        return attrs


class StatsSerializer(serializers.Serializer):
    class RecentSerializer(serializers.Serializer):
        ok = serializers.IntegerField()
        failed = serializers.IntegerField()

    pending = serializers.IntegerField()
    delivering = serializers.IntegerField()
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    oldest_pending_age_seconds = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    deliveries_last_5m = RecentSerializer()
