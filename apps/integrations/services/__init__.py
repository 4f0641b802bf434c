"""Relay services (claim, deliver, record attempts)."""
