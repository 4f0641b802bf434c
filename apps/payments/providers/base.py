"""The payment provider contract: what the wallet services may ask of a provider and what
they get back.

Answers are frozen dataclasses, never the provider's JSON, so a service never parses a
wire format and a second provider only needs a second adapter. A business answer (approved,
declined, not found) is a return value; only a failure to get an answer is an exception, and
its class tells the caller the one thing it must know to stay correct:

- ``ProviderUnavailable``: nothing was applied. The caller may try again later with the
  *same* reference (the provider dedupes by reference), or give up safely.
- ``ProviderOutcomeUnknown``: the request may have been applied. The caller must not try a
  new reference; it keeps the operation pending and asks ``status(reference=...)`` later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class MethodApproval:
    """The provider's verdict on a new payment method. ``token`` is the opaque handle we
    store instead of any card or account number; it is ``None`` when declined."""

    status: Literal["approved", "declined"]
    token: str | None
    label: str
    decline_code: str | None = None


@dataclass(frozen=True)
class ChargeResult:
    status: Literal["succeeded", "declined"]
    provider_charge_id: str | None
    decline_code: str | None = None


@dataclass(frozen=True)
class ChargeStatus:
    """What the provider knows about the charge carrying our reference. ``not_found`` means
    the charge never reached it (or has not yet): nothing was applied."""

    status: Literal["succeeded", "declined", "pending", "not_found"]
    provider_charge_id: str | None
    decline_code: str | None = None


@dataclass(frozen=True)
class RefundResult:
    status: Literal["succeeded", "declined"]
    provider_refund_id: str | None
    decline_code: str | None = None


class ProviderError(Exception):
    """The provider could not be asked, or refused the request itself (a malformed request,
    a reference reused with different data): a bug or a configuration error, not a decline."""


class ProviderUnavailable(ProviderError):
    """Nothing was applied: the connection failed, the provider answered 503, or the circuit
    breaker is open. ``retry_after`` (whole seconds, at least 1) is when trying again makes
    sense; with an open breaker it is the time until the breaker lets a probe through."""

    def __init__(self, message: str = "payment provider unavailable", *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class ProviderOutcomeUnknown(ProviderError):
    """The request may have been applied: the answer timed out, the provider failed with a
    5xx other than 503, or its answer could not be read. Ask ``status`` later; never retry
    the operation under a new reference."""


class PaymentProvider(Protocol):
    """Every call carries our ``reference`` (the idempotency key the provider dedupes by), so
    sending the same operation twice never applies it twice. Amounts are integer minor units."""

    name: str

    def approve_method(
        self, *, kind: str, label: str, last4: str, customer_ref: str, reference: str
    ) -> MethodApproval: ...

    def charge(self, *, token: str, amount: int, currency: str, reference: str) -> ChargeResult: ...

    def refund(
        self, *, provider_charge_id: str, amount: int, currency: str, reference: str
    ) -> RefundResult: ...

    def status(self, *, reference: str) -> ChargeStatus:
        """Look a charge up by OUR reference (not the provider's id, which we may never have
        received when the charge's answer was lost)."""
        ...
