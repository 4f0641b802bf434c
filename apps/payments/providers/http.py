"""The payment provider client over HTTP (the sandbox speaks the same JSON).

Why the rules are what they are — money must never move twice, and a provider outage must
not take the shop down with it:

- **Timeouts on every request** (``PAYMENT_PROVIDER_CONNECT_TIMEOUT`` / ``_READ_TIMEOUT``):
  a worker thread never waits on the provider longer than that.
- **Only ``status`` is retried.** It reads and changes nothing, so it is retried on connect
  errors, timeouts and 5xx with exponential backoff and full jitter (tenacity), at most
  ``PAYMENT_PROVIDER_RETRY_ATTEMPTS`` attempts, each wait drawn between
  ``PAYMENT_PROVIDER_RETRY_BASE_SECONDS`` and ``PAYMENT_PROVIDER_RETRY_MAX_SECONDS`` so that
  many clients do not retry in step. When it still fails it raises ``ProviderUnavailable``
  (a read applies nothing, whatever went wrong).
- **``charge``, ``refund`` and ``approve_method`` are sent ONCE.** They move money or create
  state; a blind retry after a lost answer is exactly how a customer pays twice. The failure
  class says what the caller may do:

  * connect error, connect timeout, 503 → ``ProviderUnavailable``: the request never got
    in, nothing was applied; the caller may try later with the SAME reference.
  * read timeout, another 5xx, a dropped connection, an unreadable answer →
    ``ProviderOutcomeUnknown``: it may have been applied; the caller keeps the operation
    pending and asks ``status(reference=...)`` later (the settle task does).

  Every POST carries ``Idempotency-Key: <reference>`` and the reference in the body; the
  provider answers a replayed reference with the first answer (200) and never applies it
  again, which is what makes "try later with the same reference" safe.
- **A circuit breaker** (pybreaker; ``PAYMENT_BREAKER_FAIL_MAX`` consecutive failures open
  it, ``PAYMENT_BREAKER_RESET_SECONDS`` later it lets one probe through) stops a struggling
  provider from holding every worker for a full timeout: while open, calls raise
  ``ProviderUnavailable(retry_after=<seconds until the probe>)`` without any network I/O. In
  half-open exactly one call (the probe) goes out, the others are refused; its success closes
  the breaker, its failure opens it again. Connect errors, timeouts, 5xx and unreadable
  answers count as failures; declines and other 4xx answers are the provider working and
  count as successes. Each transition moves the metrics (``providers.metrics``) and logs.

  pybreaker's own ``call()`` holds its lock for the whole guarded call, which would let only
  one provider request per process be in flight. So the client admits a call under its own
  short lock, does the I/O outside any lock, and then hands the result to pybreaker (which
  counts it and moves the state under its lock). Results of calls admitted while closed are
  only counted while the breaker is still closed; the probe's result decides half-open.

One ``httpx.Client`` (a connection pool, thread-safe) serves every call of the process.
Tokens, account and card data are never logged; log events carry our reference only.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal, NoReturn

import httpx
import pybreaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from apps.payments.providers import metrics
from apps.payments.providers.base import (
    ChargeResult,
    ChargeStatus,
    MethodApproval,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
    RefundResult,
)
from apps.payments.providers.metrics import Operation

FailureKind = Literal["unavailable", "unknown"]


class _Failure(Exception):
    """One request that failed as a system failure (counts against the breaker). ``kind``
    says whether it can have been applied."""

    def __init__(self, kind: FailureKind, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


class _Rejected(Exception):
    """The breaker refused the call; no request was sent."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("circuit breaker open")
        self.retry_after = retry_after


class _OpenedAt(pybreaker.CircuitBreakerListener):
    """Notes (monotonic) when the breaker last opened, for the admission check and
    ``retry_after``; pybreaker keeps its own timestamp in private storage."""

    def __init__(self) -> None:
        self.at = 0.0

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            self.at = time.monotonic()


_Answer = tuple[int, dict[str, Any]]


class HttpPaymentProvider:
    """A ``PaymentProvider`` speaking the provider's JSON API (see the module docstring for
    the retry, failure and breaker rules). Build it with ``from_settings``; ``get_provider``
    keeps one per process."""

    def __init__(
        self,
        *,
        base_url: str,
        name: str = "sandbox",
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        retry_attempts: int = 3,
        retry_base_seconds: float = 0.2,
        retry_max_seconds: float = 2.0,
        breaker_fail_max: int = 5,
        breaker_reset_seconds: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.retry_attempts = max(1, retry_attempts)
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = max(retry_base_seconds, retry_max_seconds)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            headers={"Accept": "application/json", "User-Agent": "joopang-payments/1"},
            transport=transport,
        )
        self._opened_at = _OpenedAt()
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_fail_max,
            reset_timeout=breaker_reset_seconds,
            exclude=None,  # only _Failure is ever raised into it
            listeners=[self._opened_at, metrics.BreakerMetricsListener(provider=name)],
            name=f"payment-provider:{name}",
            throw_new_error_on_trip=False,
        )
        self._gate = threading.Lock()
        self._probe_in_flight = False
        metrics.breaker_reset()

    @classmethod
    def from_settings(cls) -> HttpPaymentProvider:
        from django.conf import settings

        return cls(
            base_url=settings.PAYMENT_PROVIDER_URL,
            name=settings.PAYMENT_PROVIDER_NAME,
            connect_timeout=settings.PAYMENT_PROVIDER_CONNECT_TIMEOUT,
            read_timeout=settings.PAYMENT_PROVIDER_READ_TIMEOUT,
            retry_attempts=settings.PAYMENT_PROVIDER_RETRY_ATTEMPTS,
            retry_base_seconds=settings.PAYMENT_PROVIDER_RETRY_BASE_SECONDS,
            retry_max_seconds=settings.PAYMENT_PROVIDER_RETRY_MAX_SECONDS,
            breaker_fail_max=settings.PAYMENT_BREAKER_FAIL_MAX,
            breaker_reset_seconds=settings.PAYMENT_BREAKER_RESET_SECONDS,
        )

    def close(self) -> None:
        self._client.close()

    @property
    def breaker_state(self) -> str:
        """``closed``, ``open`` or ``half-open`` (pybreaker's names), for health pages and tests."""
        return str(self._breaker.current_state)

    # --- the PaymentProvider operations ---------------------------------------------------

    def approve_method(
        self, *, kind: str, label: str, last4: str, customer_ref: str, reference: str
    ) -> MethodApproval:
        """Ask the provider to approve a method; one attempt (it creates a token)."""
        body = {
            "kind": kind,
            "label": label,
            "last4": last4,
            "customer_ref": customer_ref,
            "reference": reference,
        }
        code, data = self._once("approve_method", "POST", "/v1/methods", reference=reference, json=body)
        status = data.get("status")
        if code in (200, 201, 402) and status in ("approved", "declined"):
            token = data.get("token")
            if status == "approved" and not isinstance(token, str):
                self._garbled("approve_method", reference, f"approved without a token (HTTP {code})")
            approval = MethodApproval(
                status=status,
                token=token if status == "approved" else None,
                label=str(data.get("label") or label),
                decline_code=_str_or_none(data.get("decline_code")),
            )
            metrics.call_finished(operation="approve_method", outcome=_outcome(status))
            return approval
        return self._unexpected("approve_method", reference, code, data)

    def charge(self, *, token: str, amount: int, currency: str, reference: str) -> ChargeResult:
        """Charge a method once. A replay of ``reference`` returns the first answer."""
        body = {"token": token, "amount": amount, "currency": currency, "reference": reference}
        code, data = self._once("charge", "POST", "/v1/charges", reference=reference, json=body)
        status = data.get("status")
        if code in (200, 201, 402) and status in ("succeeded", "declined"):
            if status == "succeeded" and not isinstance(data.get("id"), str):
                self._garbled("charge", reference, f"succeeded without an id (HTTP {code})")
            result = ChargeResult(
                status=status,
                provider_charge_id=_str_or_none(data.get("id")),
                decline_code=_str_or_none(data.get("decline_code")),
            )
            metrics.call_finished(operation="charge", outcome=_outcome(status))
            return result
        return self._unexpected("charge", reference, code, data)

    def refund(self, *, provider_charge_id: str, amount: int, currency: str, reference: str) -> RefundResult:
        """Refund (part of) a charge once. The provider refuses more than charged minus refunded
        (declined ``amount_exceeds_charge``)."""
        body = {
            "charge_id": provider_charge_id,
            "amount": amount,
            "currency": currency,
            "reference": reference,
        }
        code, data = self._once("refund", "POST", "/v1/refunds", reference=reference, json=body)
        status = data.get("status")
        if code in (200, 201, 402) and status in ("succeeded", "declined"):
            if status == "succeeded" and not isinstance(data.get("id"), str):
                self._garbled("refund", reference, f"succeeded without an id (HTTP {code})")
            result = RefundResult(
                status=status,
                provider_refund_id=_str_or_none(data.get("id")),
                decline_code=_str_or_none(data.get("decline_code")),
            )
            metrics.call_finished(operation="refund", outcome=_outcome(status))
            return result
        return self._unexpected("refund", reference, code, data)

    def status(self, *, reference: str) -> ChargeStatus:
        """Look a charge up by our reference; retried (it is a read), see the module docstring."""
        retrying = Retrying(
            stop=stop_after_attempt(self.retry_attempts),
            wait=wait_random_exponential(
                multiplier=self.retry_base_seconds, min=self.retry_base_seconds, max=self.retry_max_seconds
            ),
            retry=retry_if_exception_type(_Failure),
            before_sleep=self._note_retry,
            reraise=True,
        )
        try:
            code, data = retrying(
                self._attempt,
                "status",
                "GET",
                "/v1/charges",
                reference=reference,
                params={"reference": reference},
            )
        except _Rejected as exc:
            metrics.call_finished(operation="status", outcome="rejected_open")
            raise ProviderUnavailable("payment provider breaker open", retry_after=exc.retry_after) from None
        except _Failure as exc:
            # A read applied nothing, whatever the failure: always "unavailable" to the caller.
            metrics.call_finished(operation="status", outcome="unavailable")
            metrics.call_failed(
                operation="status", outcome="unavailable", reference=reference, error=exc.detail
            )
            raise ProviderUnavailable(
                f"payment provider status failed: {exc.detail}", retry_after=self._retry_after(exc)
            ) from exc
        if code == 404:
            metrics.call_finished(operation="status", outcome="succeeded")
            return ChargeStatus(status="not_found", provider_charge_id=None)
        status = data.get("status")
        if code == 200 and status in ("succeeded", "declined", "pending"):
            metrics.call_finished(operation="status", outcome="succeeded")
            return ChargeStatus(
                status=status,
                provider_charge_id=_str_or_none(data.get("id")),
                decline_code=_str_or_none(data.get("decline_code")),
            )
        metrics.call_finished(operation="status", outcome="declined")
        raise ProviderError(f"payment provider refused status (HTTP {code}): {_error_of(data)}")

    # --- one request through the breaker --------------------------------------------------

    def _once(
        self, operation: Operation, method: str, path: str, *, reference: str, json: Mapping[str, Any]
    ) -> _Answer:
        """The single attempt of a state-changing call, its failures mapped for the caller."""
        try:
            return self._attempt(operation, method, path, reference=reference, json=json)
        except _Rejected as exc:
            metrics.call_finished(operation=operation, outcome="rejected_open")
            raise ProviderUnavailable("payment provider breaker open", retry_after=exc.retry_after) from None
        except _Failure as exc:
            metrics.call_finished(operation=operation, outcome=exc.kind)
            metrics.call_failed(operation=operation, outcome=exc.kind, reference=reference, error=exc.detail)
            if exc.kind == "unavailable":
                raise ProviderUnavailable(
                    f"payment provider unavailable: {exc.detail}", retry_after=self._retry_after(exc)
                ) from exc
            raise ProviderOutcomeUnknown(f"payment provider outcome unknown: {exc.detail}") from exc

    def _attempt(
        self,
        operation: Operation,
        method: str,
        path: str,
        *,
        reference: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> _Answer:
        """Admit, send, classify, record: one HTTP request. Raises ``_Rejected`` (breaker
        open, nothing sent) or ``_Failure``; returns (HTTP status, JSON object) otherwise."""
        probe = self._admit()
        failure: _Failure | None = None
        try:
            try:
                return self._send(operation, method, path, reference=reference, json=json, params=params)
            except _Failure as exc:
                failure = exc
                raise
        finally:
            self._record(failure, probe=probe)

    def _send(
        self,
        operation: Operation,
        method: str,
        path: str,
        *,
        reference: str,
        json: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
    ) -> _Answer:
        headers = {"Idempotency-Key": reference} if method == "POST" else None
        started = time.perf_counter()
        try:
            response = self._client.request(method, path, json=json, params=params, headers=headers)
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,
        ) as exc:
            # The request never left: nothing can have been applied.
            raise _Failure("unavailable", f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            # ReadTimeout, WriteTimeout, a dropped connection: it may have arrived.
            raise _Failure("unknown", f"{type(exc).__name__}: {exc}") from exc
        finally:
            metrics.call_timed(operation=operation, seconds=time.perf_counter() - started)
        code = response.status_code
        if code == 503:
            raise _Failure("unavailable", "HTTP 503", retry_after=_retry_after_header(response))
        if code >= 500:
            raise _Failure("unknown", f"HTTP {code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise _Failure("unknown", f"HTTP {code} with an unreadable body") from exc
        if not isinstance(data, dict):
            raise _Failure("unknown", f"HTTP {code} with a body that is not a JSON object")
        return code, data

    def _admit(self) -> bool:
        """Let the call through or raise ``_Rejected``; True when it is the half-open probe."""
        with self._gate:
            state = self._breaker.current_state
            if state == pybreaker.STATE_CLOSED:
                return False
            if state == pybreaker.STATE_OPEN:
                remaining = self._seconds_until_probe()
                if remaining > 0:
                    raise _Rejected(math.ceil(remaining))
            if self._probe_in_flight:
                raise _Rejected(1)
            if state == pybreaker.STATE_OPEN:
                self._breaker.half_open()
            self._probe_in_flight = True
            return True

    def _record(self, failure: _Failure | None, *, probe: bool) -> None:
        """Hand one result to pybreaker, which counts it and moves the state."""
        try:
            expected = pybreaker.STATE_HALF_OPEN if probe else pybreaker.STATE_CLOSED
            if self._breaker.current_state != expected:
                return  # admitted under another state; another call's result already decided

            def result() -> None:
                if failure is not None:
                    raise failure

            # Re-raised by pybreaker (a failure; or the breaker was open meanwhile): recorded.
            with contextlib.suppress(_Failure, pybreaker.CircuitBreakerError):
                self._breaker.call(result)
        finally:
            if probe:
                with self._gate:
                    self._probe_in_flight = False

    def _seconds_until_probe(self) -> float:
        return self._opened_at.at + float(self._breaker.reset_timeout) - time.monotonic()

    def _retry_after(self, failure: _Failure) -> int:
        if self._breaker.current_state == pybreaker.STATE_OPEN:
            return max(1, math.ceil(self._seconds_until_probe()))
        return failure.retry_after or 1

    def _note_retry(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        metrics.call_retried(
            operation="status",
            attempt=retry_state.attempt_number,
            wait_seconds=retry_state.next_action.sleep if retry_state.next_action else 0.0,
            error=str(exc),
        )

    # --- answers that are neither a result nor a failure ----------------------------------

    def _garbled(self, operation: Operation, reference: str, detail: str) -> NoReturn:
        """A 2xx we cannot use: the operation may have happened, so it is outcome unknown. The
        breaker already counted the request as answered; an unusable answer is a bug to fix,
        not an outage to shed."""
        metrics.call_finished(operation=operation, outcome="unknown")
        metrics.call_failed(operation=operation, outcome="unknown", reference=reference, error=detail)
        raise ProviderOutcomeUnknown(f"payment provider answer unusable: {detail}")

    def _unexpected(self, operation: Operation, reference: str, code: int, data: dict[str, Any]) -> NoReturn:
        if 200 <= code < 300:
            self._garbled(operation, reference, f"HTTP {code} with status {data.get('status')!r}")
        # A 4xx other than a decline (malformed request, reference reused with other data):
        # the provider refused it, nothing was applied, and retrying cannot help.
        metrics.call_finished(operation=operation, outcome="declined")
        metrics.call_failed(
            operation=operation, outcome="declined", reference=reference, error=f"HTTP {code}"
        )
        raise ProviderError(f"payment provider refused {operation} (HTTP {code}): {_error_of(data)}")


def _outcome(status: str) -> metrics.Outcome:
    return "declined" if status == "declined" else "succeeded"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _error_of(data: Mapping[str, Any]) -> str:
    return str(data.get("error") or data.get("decline_code") or "no detail")


def _retry_after_header(response: httpx.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


__all__ = ["HttpPaymentProvider"]
