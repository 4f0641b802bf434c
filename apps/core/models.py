"""Core tables: idempotency keys (API.md "Idempotency") and the outbox (DESIGN.md §5)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """One client-supplied ``Idempotency-Key`` per caller, with the stored response.

    ``state`` moves ``in_progress`` -> ``completed``. A replay with the same request hash
    gets the stored response; a different hash is ``idempotency.key_reused``; a replay
    while ``in_progress`` (and ``locked_until`` not passed) is ``idempotency.in_progress``.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    caller = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    locked_until = models.DateTimeField()
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caller", "key"], name="core_idempotency_caller_key_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.caller} {self.key} ({self.state})"


class OutboxEvent(models.Model):
    """One domain event, written by :func:`apps.core.outbox.publish` in the same
    transaction as the change it describes: the row exists exactly when the change
    committed. The relay (integrations) ships ``pending`` rows later.

    ``sequence`` is global and unique: PostgreSQL draws it from the sequence
    ``core_outboxevent_sequence_seq`` (``nextval`` is not transactional, so numbers are
    gap-tolerant and a later number may commit before an earlier one); SQLite takes
    ``MAX + 1`` inside its IMMEDIATE (serialized) write transaction. Readers that page by
    ``sequence`` must therefore not assume commit order (docs/events.md, ADR 0006).
    ``aggregate_sequence`` numbers the events of one aggregate 1, 2, 3... without gaps.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sequence = models.BigIntegerField(unique=True)
    type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField(default=1)
    market = models.CharField(max_length=2, blank=True, default="")
    aggregate_type = models.CharField(max_length=40)
    aggregate_id = models.CharField(max_length=120)
    aggregate_sequence = models.PositiveIntegerField()
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Relay state (apps.integrations; written only through apps.core.outbox's relay functions).
    #: pending: not before this time (backoff after a failed attempt); null = as soon as possible.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: delivering: the claim is the worker's until then; past it, another worker may take it over.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=120, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["sequence"]
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id", "aggregate_sequence"],
                name="core_outboxevent_aggregate_seq_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "sequence"], name="core_outbox_status_seq_idx"),
            models.Index(fields=["occurred_at"], name="core_outbox_occurred_idx"),
            models.Index(fields=["delivered_at"], name="core_outbox_delivered_idx"),
            # The relay's claim (apps.core.outbox.outbox_claim, ADR 0011): both hold only
            # undelivered rows, so they stay small however long the retained history is.
            models.Index(
                fields=["sequence"],
                name="core_outbox_open_seq_idx",
                condition=models.Q(status__in=["pending", "delivering"]),
            ),
            models.Index(
                fields=["aggregate_type", "aggregate_id", "aggregate_sequence"],
                name="core_outbox_open_agg_idx",
                condition=models.Q(status__in=["pending", "delivering"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sequence} {self.type} {self.aggregate_type}:{self.aggregate_id}"
