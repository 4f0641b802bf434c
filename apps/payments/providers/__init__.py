"""The payment provider the wallet services talk to: ``get_provider()``.

One instance per process, built from settings on first use: it owns the HTTP connection
pool and the circuit breaker, and a breaker only protects anything if every call of the
process goes through the same one. ``reset_provider()`` drops it (tests call it after
changing settings), which also starts a new, closed breaker.
"""

from __future__ import annotations

import threading

from apps.payments.providers import metrics
from apps.payments.providers.base import (
    ChargeResult,
    ChargeStatus,
    MethodApproval,
    PaymentProvider,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
    RefundResult,
)

__all__ = [
    "ChargeResult",
    "ChargeStatus",
    "MethodApproval",
    "PaymentProvider",
    "ProviderError",
    "ProviderOutcomeUnknown",
    "ProviderUnavailable",
    "RefundResult",
    "get_provider",
    "reset_provider",
]

_lock = threading.Lock()
_provider: PaymentProvider | None = None


def get_provider() -> PaymentProvider:
    """The process's provider client (the sandbox and a real provider speak the same HTTP API,
    so ``PAYMENT_PROVIDER_URL`` alone chooses between them)."""
    global _provider
    provider = _provider
    if provider is not None:
        return provider
    with _lock:
        if _provider is None:
            from apps.payments.providers.http import HttpPaymentProvider

            _provider = HttpPaymentProvider.from_settings()
        return _provider


def reset_provider() -> None:
    """Forget the process's provider (closing its connections); the next ``get_provider``
    builds a new one from the current settings, with a closed breaker."""
    global _provider
    with _lock:
        old, _provider = _provider, None
    close = getattr(old, "close", None)
    if close is not None:
        close()
    metrics.breaker_reset()
