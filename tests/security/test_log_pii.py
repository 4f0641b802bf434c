"""Issue 24 item 5: secrets and personal data never reach the logs.

A full purchase flow runs through the real middleware stack with every log line captured
as the production formatter renders it (structlog and standard-library loggers alike,
every level down to DEBUG, the payment sandbox's thread included): sign up, sign in (API
password grant, a refresh, the storefront form, and one wrong password), profile with a
phone and an address, a card number typed where only a label belongs (refused), a saved
card, a wallet top-up through the sandbox, a cart, an order paid by wallet, an order paid
by the saved card, a cancellation (refund to the wallet) and a partial return. Then no
captured line may hold the member's password (or the wrong one), any access or refresh
token, the card number, the phone number, the address lines, the recipient's name or the
email address.

Emails: docs/operations.md lists what a line carries inside a request (``request_id``,
``user_id``, ``market``): ids, never the email. Nothing in the flow logs one, so the test
asserts it is absent (axes' failure record keeps the typed email in the database, per ADR
0004, not in the logs).
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from rest_framework.test import APIClient

from apps.orders import services as order_services
from tests.accounts.factories import staff
from tests.carts.factories import stocked
from tests.payments.conftest import sandbox  # noqa: F401

pytestmark = pytest.mark.django_db

EMAIL = "Pii.Probe.7731@example.test"
PASSWORD = "Wq7-Ginkgo-Harbor-5519"
WRONG_PASSWORD = "Zx9-Wrong-Lantern-0042"
PHONE = "010-7345-9182"
PHONE_DIGITS = "01073459182"
CARD = "4532015112830366"
CVC = "8134"
ADDRESS = {
    "recipient": "홍길순 Probe",
    "line1": "테헤란로 4412 Probe",
    "line2": "17층 Probe-Suite",
    "city": "서울",
    "postal_code": "06236",
    "country": "KR",
}
KR_CONSENTS = ["terms", "privacy", "cross_border_transfer"]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every record reaching the root logger, at every level, rendered by the formatter of
    the configured handler (the same processors as production, redaction included)."""
    root = logging.getLogger()
    formatter = next(h.formatter for h in root.handlers if h.formatter is not None)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    handler.setLevel(logging.DEBUG)
    quiet = {name: logging.getLogger(name).level for name in ("django.request", "django.server")}
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


def _key() -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": f"pii-{uuid.uuid4()}"}


def _ok(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:500])
    return response.json() if response.content else {}


def _leaks(lines: list[str], secrets: dict[str, str]) -> dict[str, list[str]]:
    """name -> the lines (cut) holding that secret, case-insensitively; only names found."""
    found = {
        name: [line[:300] for line in lines if value.lower() in line.lower()]
        for name, value in secrets.items()
    }
    return {name: hits for name, hits in found.items() if hits}


def _purchase_flow(client: Any, sku: str) -> list[str]:
    """Runs the flow; returns the tokens it was given (they must not be logged either)."""
    api = APIClient()
    _ok(
        api.post(
            "/api/v1/auth/register",
            {"email": EMAIL, "password": PASSWORD, "market": "KR", "locale": "ko", "consents": KR_CONSENTS},
            format="json",
        ),
        201,
    )
    wrong = api.post(
        "/api/v1/auth/token",
        {"grant_type": "password", "username": EMAIL, "password": WRONG_PASSWORD},
        format="json",
    )
    assert wrong.status_code in (400, 401), wrong.content
    grant = _ok(
        api.post(
            "/api/v1/auth/token",
            {"grant_type": "password", "username": EMAIL, "password": PASSWORD},
            format="json",
        ),
        200,
    )
    refreshed = _ok(
        api.post(
            "/api/v1/auth/token",
            {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]},
            format="json",
        ),
        200,
    )
    tokens = [
        grant["access_token"],
        grant["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
    ]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access_token']}", HTTP_X_MARKET="KR")

    # storefront sign-in (a wrong password first), as a browser posts it
    client.post("/accounts/login/", {"email": EMAIL, "password": WRONG_PASSWORD})
    login = client.post("/accounts/login/", {"email": EMAIL, "password": PASSWORD})
    assert login.status_code == 302, login.content[:500]

    _ok(api.patch("/api/v1/me", {"phone": PHONE, "default_address": ADDRESS}, format="json"), 200)
    _ok(api.get("/api/v1/me/export"), 200)

    # a card number (and a CVC) typed where a label belongs: refused, never logged
    refused = api.post(
        "/api/v1/payment-methods",
        {"kind": "card", "label": f"{CARD} cvc {CVC}", "last4": CARD[-4:], "number": CARD, "cvc": CVC},
        format="json",
        **_key(),
    )
    assert refused.status_code == 400, refused.content
    assert refused.json()["code"] == "payment_method.card_number_refused"
    method = _ok(
        api.post(
            "/api/v1/payment-methods",
            {"kind": "card", "label": "Probe카드", "last4": CARD[-4:]},
            format="json",
            **_key(),
        ),
        201,
    )
    top_up = api.post(
        "/api/v1/wallet/top-ups",
        {"amount": 100_000, "payment_method_id": method["id"]},
        format="json",
        **_key(),
    )
    assert top_up.status_code in (200, 201, 202), top_up.content

    # a cart, an order paid by wallet, cancelled (refund to the wallet)
    _ok(api.post("/api/v1/carts/current/items", {"sku": sku, "quantity": 2}, format="json"), 201)
    by_wallet = _ok(api.post("/api/v1/orders", {"from_cart": True}, format="json", **_key()), 201)
    _ok(
        api.post(f"/api/v1/orders/{by_wallet['id']}/payments", {"method": "wallet"}, format="json", **_key()),
        201,
    )
    _ok(
        api.post(f"/api/v1/orders/{by_wallet['id']}/cancel", {"reason": "changed my mind"}, format="json"),
        200,
    )

    # an order paid by the saved card, then one unit returned
    by_card = _ok(
        api.post(
            "/api/v1/orders",
            {"items": [{"sku": sku, "quantity": 2}], "shipping_address": ADDRESS},
            format="json",
            **_key(),
        ),
        201,
    )
    paid = api.post(
        f"/api/v1/orders/{by_card['id']}/payments",
        {"method": "payment_method", "payment_method_id": method["id"]},
        format="json",
        **_key(),
    )
    _ok(paid, 201)
    order_services.order_transition(
        order_id=by_card["id"],
        to_status="fulfilled",
        actor=staff("ops_admin"),
        reason="shipped",
        markets=["KR"],
    )
    position = by_card["lines"][0]["position"]
    refund = api.post(
        f"/api/v1/orders/{by_card['id']}/refunds",
        {"reason": "one was broken", "lines": [{"line": position, "quantity": 1}]},
        format="json",
        **_key(),
    )
    assert refund.status_code in (200, 201), refund.content
    _ok(api.get(f"/api/v1/orders/{by_card['id']}"), 200)
    _ok(api.get("/api/v1/wallet/transactions"), 200)
    # the storefront pages that show the address and the phone
    for page in ("/accounts/profile/", "/orders/", f"/orders/{by_card['id']}/", "/wallet/"):
        assert client.get(page).status_code == 200, page
    return tokens


def test_a_purchase_flow_logs_no_secret_and_no_personal_data(client, log_lines, sandbox):  # noqa: F811
    _, sku = stocked(kr=12900)

    tokens = _purchase_flow(client, sku)

    text = log_lines.getvalue()
    lines = text.splitlines()
    assert len(lines) > 20, "the capture saw too little of the flow to mean anything"
    assert "request_finished" in text and "/api/v1/orders" in text
    secrets = {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "card number": CARD,
        "card number (last 12)": CARD[4:],
        "phone": PHONE,
        "phone digits": PHONE_DIGITS,
        "address line 1": ADDRESS["line1"],
        "address line 2": ADDRESS["line2"],
        "recipient": ADDRESS["recipient"],
        "email": EMAIL.lower(),
        "email local part": EMAIL.split("@")[0].lower(),
        **{f"token {i}": token for i, token in enumerate(tokens)},
        # a JWT's signature alone would already be a leak
        **{f"token {i} signature": token.rsplit(".", 1)[-1] for i, token in enumerate(tokens)},
    }
    leaks = _leaks(lines, secrets)
    assert leaks == {}
    cvc_lines = [line for line in lines if f"cvc {CVC}" in line.lower() or f'"cvc": "{CVC}"' in line.lower()]
    assert cvc_lines == []


def test_the_capture_sees_debug_lines_of_structlog_and_stdlib_loggers(log_lines):
    # given: the capture of the test above; a leak through each kind of logger, at DEBUG
    structlog.get_logger("apps.accounts").debug("probe", email=EMAIL)
    logging.getLogger("apps.payments").debug("probe %s", PASSWORD)
    logging.getLogger("django.request").warning("probe %s", PHONE_DIGITS)

    # when it is scanned like the flow's
    leaks = _leaks(
        log_lines.getvalue().splitlines(), {"email": EMAIL, "password": PASSWORD, "phone": PHONE_DIGITS}
    )

    # then each is found (a scan that cannot see them would prove nothing)
    assert set(leaks) == {"email", "password", "phone"}
