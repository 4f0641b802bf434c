"""Relay services: claim, deliver and settle batches of outbox events, prune (ADR 0011)."""

from apps.integrations.services.relay import (
    BatchResult,
    DrainResult,
    batch_body,
    event_json,
    relay_breaker_state,
    relay_deliver_batch,
    relay_drain,
    relay_enabled,
    relay_prune,
    relay_sink_reset,
    signature,
    signed_headers,
)

__all__ = [
    "BatchResult",
    "DrainResult",
    "batch_body",
    "event_json",
    "relay_breaker_state",
    "relay_deliver_batch",
    "relay_drain",
    "relay_enabled",
    "relay_prune",
    "relay_sink_reset",
    "signature",
    "signed_headers",
]
