"""Read queries of the integrations app (data-platform feed, outbox stats)."""
