"""What the relay did: one row per webhook call (a batch), linked to the events it carried.

The events themselves are ``apps.core.models.OutboxEvent`` rows (their status, attempt count,
next attempt time and last error live there); these tables keep each attempt's outcome so an
operator can see why an event was retried or failed (ADR 0011).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliveryAttempt(models.Model):
    """One POST of one batch to the data platform's webhook, with how it ended."""

    class Outcome(models.TextChoices):
        OK = "ok", _("Delivered")
        HTTP_ERROR = "http_error", _("HTTP error")
        TIMEOUT = "timeout", _("Timed out")
        CONNECTION_ERROR = "connection_error", _("Connection error")
        CIRCUIT_OPEN = "circuit_open", _("Circuit open (not sent)")

    batch_id = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
    worker = models.CharField(_("worker"), max_length=120, blank=True, default="")
    started_at = models.DateTimeField(_("started at"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True, default="")
    event_count = models.PositiveIntegerField(_("events"), default=0)
    events = models.ManyToManyField(
        "core.OutboxEvent", through="DeliveryAttemptEvent", related_name="delivery_attempts"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        indexes = [models.Index(fields=["started_at"], name="integ_attempt_started_idx")]

    def __str__(self) -> str:
        return f"{self.batch_id} {self.outcome} ({self.event_count})"


class DeliveryAttemptEvent(models.Model):
    """Which events one attempt carried (an event appears once per attempt)."""

    attempt = models.ForeignKey(DeliveryAttempt, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey("core.OutboxEvent", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attempt", "event"], name="integ_attempt_event_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.attempt_id}:{self.event_id}"
