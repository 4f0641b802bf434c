"""The built-in sandbox payment provider: a real HTTP server speaking the provider API.

It exists so that development (``manage.py payment_sandbox``, started by ``make run``) and
the tests exercise the real client over a real socket, timeouts and all, and so that a
provider that misbehaves can be produced on demand. State lives in memory under one lock.

Faults (``set_fault`` or ``POST /_sandbox/faults {mode, delay, period, operations}``) apply
to the listed operations (``approve_method``, ``charge``, ``refund``, ``status``; default
all):

- ``ok``: answer normally.
- ``slow``: sleep ``delay`` (default 0.5 s), then answer normally.
- ``fail``: answer 503 ``{"error": "unavailable"}`` and apply nothing.
- ``timeout``: APPLY the operation, then sleep ``delay`` before answering: the client's read
  timeout fires, so it cannot know that the operation happened (default delay 6 s).
- ``lost``: sleep ``delay`` and close the connection without applying anything or answering
  (default 6 s).
- ``flap``: deterministic: ``period`` (default 2) requests fail with 503, the next ``period``
  succeed, and so on.

Business hooks, like a card network's test cards: a method whose last4 is ``0002`` is
declined at approval (``card_declined``); a charge on a method whose last4 is ``0051`` is
declined (``insufficient_funds``); an unknown token is declined (``invalid_token``).

Every write is deduplicated by its reference: a replay answers the first answer (200, or
402 when it was a decline) and applies nothing; the same reference with different data is
409 ``reference_reused``. ``stats()["charges_applied"]`` counts how often each reference
moved money: it must never exceed 1, which is how the tests prove "never charged twice".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULT_MODES = ("ok", "slow", "fail", "timeout", "lost", "flap")
OPERATIONS = ("approve_method", "charge", "refund", "status")
DEFAULT_DELAYS = {"slow": 0.5, "timeout": 6.0, "lost": 6.0}
DECLINED_AT_APPROVAL = "0002"
INSUFFICIENT_FUNDS = "0051"


def _token_key() -> bytes:
    from django.conf import settings

    return hashlib.sha256(b"joopang-sandbox-token:" + settings.SECRET_KEY.encode()).digest()


def _token_issue(last4: str) -> str:
    """A self-describing token (``tok_<last4>_<nonce>_<mac>``): a restarted sandbox, which
    has forgotten its in-memory state, still honours the methods saved in the database."""
    body = f"{last4}_{secrets.token_hex(8)}"
    mac = hmac.new(_token_key(), body.encode(), hashlib.sha256).hexdigest()[:16]
    return f"tok_{body}_{mac}"


def _token_last4(token: str) -> str | None:
    """The last four digits a token was issued for, or ``None`` when we did not issue it."""
    parts = token.split("_")
    if len(parts) != 4 or parts[0] != "tok":
        return None
    body = f"{parts[1]}_{parts[2]}"
    mac = hmac.new(_token_key(), body.encode(), hashlib.sha256).hexdigest()[:16]
    return parts[1] if hmac.compare_digest(mac, parts[3]) else None


@dataclass
class _Fault:
    mode: str = "ok"
    delay: float = 0.0
    period: int = 2
    operations: frozenset[str] = frozenset(OPERATIONS)
    seen: int = 0  # requests to the listed operations since the fault was set (flap)


@dataclass
class _State:
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> method
    approvals: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # reference -> charge
    charge_refs: dict[str, str] = field(default_factory=dict)  # charge id -> reference
    refunds: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    charges_applied: Counter[str] = field(default_factory=Counter)
    refunds_applied: Counter[str] = field(default_factory=Counter)


class _Answer(Exception):
    """Ends a request early with this answer (validation errors)."""

    def __init__(self, code: int, body: dict[str, Any]) -> None:
        super().__init__(code)
        self.code = code
        self.body = body


class SandboxServer:
    """The sandbox on its own port. ``start()`` serves from a daemon thread (tests);
    ``serve_forever()`` serves in the caller's thread (the management command)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        fault: str = "ok",
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        self._fault = _Fault()
        self._log = log
        self.set_fault(fault)
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True  # a request sleeping in a fault never blocks stop()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            # A short poll so that stop() returns at once (tests start one per test).
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="payment-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    # --- control ---------------------------------------------------------------------------

    def set_fault(
        self,
        mode: str,
        *,
        delay: float | None = None,
        period: int | None = None,
        operations: Iterable[str] | None = None,
    ) -> None:
        """Misbehave from now on (see the module docstring); ``ok`` heals."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(FAULT_MODES)}")
        ops = frozenset(operations) if operations is not None else frozenset(OPERATIONS)
        if unknown := ops - set(OPERATIONS):
            raise ValueError(f"unknown operations {sorted(unknown)}; of {', '.join(OPERATIONS)}")
        if period is not None and period < 1:
            raise ValueError("period must be at least 1")
        with self._lock:
            self._fault = _Fault(
                mode=mode,
                delay=float(delay if delay is not None else DEFAULT_DELAYS.get(mode, 0.0)),
                period=period or 2,
                operations=ops,
            )

    def reset(self) -> None:
        """Forget every method, charge, refund and count, and heal any fault."""
        with self._lock:
            self._state = _State()
            self._fault = _Fault()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            fault = self._fault
            return {
                "requests": {op: self._state.requests[op] for op in OPERATIONS},
                "charges_applied": dict(self._state.charges_applied),
                "refunds_applied": dict(self._state.refunds_applied),
                "fault": {
                    "mode": fault.mode,
                    "delay": fault.delay,
                    "period": fault.period,
                    "operations": sorted(fault.operations),
                },
            }

    # --- one request -------------------------------------------------------------------------

    def handle(
        self, *, operation: str, body: dict[str, Any], query: dict[str, str]
    ) -> tuple[int, dict[str, Any]] | None:
        """Count the request, apply its fault and answer; ``None`` means drop the connection."""
        with self._lock:
            self._state.requests[operation] += 1
            fault = self._fault
            mode = fault.mode if operation in fault.operations else "ok"
            if mode == "flap":
                failing = (fault.seen // fault.period) % 2 == 0
                fault.seen += 1
                mode = "fail" if failing else "ok"
            delay = fault.delay
        if mode == "fail":
            return 503, {"error": "unavailable"}
        if mode == "lost":
            time.sleep(delay)
            return None
        if mode == "slow":
            time.sleep(delay)
        try:
            answer = self._apply(operation, body, query)
        except _Answer as exc:
            answer = exc.code, exc.body
        if mode == "timeout":
            time.sleep(delay)  # applied; the client has given up by now
        return answer

    def _apply(
        self, operation: str, body: dict[str, Any], query: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if operation == "approve_method":
            return self._approve(body)
        if operation == "charge":
            return self._charge(body)
        if operation == "refund":
            return self._refund(body)
        return self._status(query)

    def _approve(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        kind, label, last4, customer_ref, reference = (
            _text(body, "kind"),
            _text(body, "label"),
            _text(body, "last4"),
            _text(body, "customer_ref"),
            _text(body, "reference"),
        )
        if not (len(last4) == 4 and last4.isdigit()):
            raise _Answer(400, {"error": "invalid_request", "detail": "last4 must be 4 digits"})
        request = {"kind": kind, "label": label, "last4": last4, "customer_ref": customer_ref}
        with self._lock:
            if reference in self._state.approvals:
                return _replay(self._state.approvals[reference], request)
            if last4 == DECLINED_AT_APPROVAL:
                code, answer = (
                    402,
                    {"status": "declined", "token": None, "label": label, "decline_code": "card_declined"},
                )
            else:
                token = _token_issue(last4)
                self._state.methods[token] = request
                code, answer = (
                    201,
                    {"status": "approved", "token": token, "label": label, "decline_code": None},
                )
            self._state.approvals[reference] = (request, code, answer)
            return code, answer

    def _charge(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token, reference = _text(body, "token"), _text(body, "reference")
        amount, currency = _amount(body), _currency(body)
        request = {"token": token, "amount": amount, "currency": currency}
        with self._lock:
            first = self._state.charges.get(reference)
            if first is not None:
                return _replay((first["request"], first["code"], first["answer"]), request)
            method = self._state.methods.get(token)
            if method is None and (last4 := _token_last4(token)) is not None:
                method = {"last4": last4}
            charge_id = f"ch_{secrets.token_hex(12)}"
            decline = None
            if method is None:
                decline = "invalid_token"
            elif method["last4"] == INSUFFICIENT_FUNDS:
                decline = "insufficient_funds"
            status = "declined" if decline else "succeeded"
            answer = {
                "id": charge_id,
                "status": status,
                "decline_code": decline,
                "amount": amount,
                "currency": currency,
                "reference": reference,
            }
            code = 402 if decline else 201
            self._state.charges[reference] = {
                "request": request,
                "code": code,
                "answer": answer,
                "refunded": 0,
            }
            self._state.charge_refs[charge_id] = reference
            if not decline:
                self._state.charges_applied[reference] += 1
            return code, answer

    def _refund(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        charge_id, reference = _text(body, "charge_id"), _text(body, "reference")
        amount, currency = _amount(body), _currency(body)
        request = {"charge_id": charge_id, "amount": amount, "currency": currency}
        with self._lock:
            if reference in self._state.refunds:
                return _replay(self._state.refunds[reference], request)
            charge_ref = self._state.charge_refs.get(charge_id)
            charge = self._state.charges.get(charge_ref) if charge_ref else None
            decline: str | None = None
            if charge is None:
                decline = "unknown_charge"
            elif charge["answer"]["status"] != "succeeded":
                decline = "charge_not_succeeded"
            elif charge["answer"]["currency"] != currency:
                decline = "currency_mismatch"
            elif amount > charge["answer"]["amount"] - charge["refunded"]:
                decline = "amount_exceeds_charge"
            answer: dict[str, Any]
            if decline:
                code, answer = (
                    402,
                    {"id": None, "status": "declined", "decline_code": decline, "charge_id": charge_id},
                )
            else:
                assert charge is not None
                charge["refunded"] += amount
                self._state.refunds_applied[reference] += 1
                code, answer = (
                    201,
                    {
                        "id": f"re_{secrets.token_hex(12)}",
                        "status": "succeeded",
                        "decline_code": None,
                        "charge_id": charge_id,
                        "amount": amount,
                        "currency": currency,
                    },
                )
            self._state.refunds[reference] = (request, code, answer)
            return code, answer

    def _status(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        reference = query.get("reference", "")
        if not reference:
            raise _Answer(400, {"error": "invalid_request", "detail": "reference is required"})
        with self._lock:
            charge = self._state.charges.get(reference)
            if charge is None:
                return 404, {"error": "not_found"}
            return 200, {**charge["answer"], "refunded": charge["refunded"]}

    def log(self, line: str) -> None:
        if self._log is not None:
            self._log(line)


def _replay(
    first: tuple[dict[str, Any], int, dict[str, Any]], request: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    stored_request, code, answer = first
    if stored_request != request:
        return 409, {"error": "reference_reused", "detail": "this reference was used with other data"}
    return (200 if code < 300 else code), answer


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _Answer(400, {"error": "invalid_request", "detail": f"{key} is required"})
    return value


def _amount(body: dict[str, Any]) -> int:
    value = body.get("amount")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _Answer(400, {"error": "invalid_request", "detail": "amount must be a positive integer"})
    return value


def _currency(body: dict[str, Any]) -> str:
    value = _text(body, "currency")
    if not (len(value) == 3 and value.isalpha() and value.isupper()):
        raise _Answer(400, {"error": "invalid_request", "detail": "currency must be an ISO 4217 code"})
    return value


_ROUTES = {
    ("POST", "/v1/methods"): "approve_method",
    ("POST", "/v1/charges"): "charge",
    ("POST", "/v1/refunds"): "refund",
    ("GET", "/v1/charges"): "status",
}


def _handler_for(sandbox: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "JoopangPaymentSandbox/1"

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            try:
                body = self._body() if method == "POST" else {}
            except ValueError:
                self._answer(400, {"error": "invalid_request", "detail": "body must be a JSON object"})
                return
            operation = _ROUTES.get((method, parts.path))
            if operation is not None:
                reference = body.get("reference") if method == "POST" else query.get("reference")
                answer = sandbox.handle(operation=operation, body=body, query=query)
                if answer is None:
                    self.close_connection = True
                    sandbox.log(f"{method} {parts.path} {operation} ref={reference} -> dropped (lost)")
                    return
                code, payload = answer
                sandbox.log(
                    f"{method} {parts.path} {operation} ref={reference} -> {code} {payload.get('status', '')}"
                )
                self._answer(code, payload)
                return
            control = self._control(method, parts.path, body)
            sandbox.log(f"{method} {parts.path} -> {control[0]}")
            self._answer(*control)

        def _control(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            if (method, path) == ("GET", "/_sandbox/stats"):
                return 200, sandbox.stats()
            if (method, path) == ("POST", "/_sandbox/reset"):
                sandbox.reset()
                return 200, sandbox.stats()
            if (method, path) == ("POST", "/_sandbox/faults"):
                try:
                    sandbox.set_fault(
                        str(body.get("mode", "ok")),
                        delay=body.get("delay"),
                        period=body.get("period"),
                        operations=body.get("operations"),
                    )
                except (TypeError, ValueError) as exc:
                    return 400, {"error": "invalid_request", "detail": str(exc)}
                return 200, sandbox.stats()
            return 404, {"error": "not_found"}

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            data = json.loads(raw or b"{}")
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return data

        def _answer(self, code: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            try:
                self.send_response(code, HTTPStatus(code).phrase)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if code == 503:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout fault): the answer has nowhere to go

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request goes through sandbox.log instead

    return Handler
