"""Core tables: idempotency keys (API.md "Idempotency")."""

from __future__ import annotations

from django.db import models


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
