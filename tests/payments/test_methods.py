"""Saved payment methods (issue 19, Deliver 2 and "Show"): the provider approves a method
and only its token, a label and the last four digits are kept; anything that looks like a
card or account number or a security code is refused before it reaches the provider, is
never stored, never echoed, and never appears in any log output (a test scans everything
logged, through stdlib logging, structlog and the process's stdout/stderr)."""

from __future__ import annotations

import logging
import re

import pytest
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.payments import services
from apps.payments.errors import CardNumberRefused, MethodDeclined, MethodLimit, MethodNotFound
from apps.payments.models import Charge, PaymentMethod
from apps.payments.providers.sandbox import SandboxServer
from apps.payments.selectors import payment_method_list
from tests.payments.factories import MemberFactory, method_for

pytestmark = pytest.mark.django_db

#: (field, value, the secret that must never surface); ``label`` and ``last4`` are the
#: method's own fields, ``card_number`` an extra field a careless client might send.
CARD_LIKE = [
    pytest.param("label", "4111 1111 1111 1111", "4111111111111111", id="card-spaces"),
    pytest.param("label", "4111-1111-1111-1111", "4111111111111111", id="card-dashes"),
    pytest.param("label", "4111111111111111", "4111111111111111", id="card-plain"),
    pytest.param("label", "110-123-456789", "110123456789", id="bank-account"),
    pytest.param("label", "CVC 123", "CVC 123", id="cvc"),
    pytest.param("label", "My Visa 98765432", "98765432", id="digits-in-label"),
    pytest.param("last4", "41111111", "41111111", id="digits-in-last4"),
    pytest.param("card_number", "5500 0000 0000 0004", "5500000000000004", id="extra-field"),
]

#: The service takes the three fields; an extra field is the API's to refuse.
SERVICE_CARD_LIKE = [case for case in CARD_LIKE if case.values[0] != "card_number"]


def _approvals(sandbox: SandboxServer) -> int:
    return int(sandbox.stats()["requests"]["approve_method"])


def _auth(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user)}", "HTTP_X_MARKET": "KR"}


def test_an_approved_method_keeps_only_the_token_label_and_last4(sandbox, kr):
    # given: a member
    user = MemberFactory()

    # when: they register "KB국민" ending in 1234
    method = services.payment_method_add(user=user, market=kr, kind="card", label="  KB국민  ", last4="1234")

    # then: the provider approved it once; we keep its opaque token, the tidy label and last4
    assert _approvals(sandbox) == 1
    method.refresh_from_db()
    assert (method.user_id, method.market_id, method.kind, method.label, method.last4) == (
        user.pk,
        "KR",
        "card",
        "KB국민",
        "1234",
    )
    assert (method.provider, method.status, method.removed_at) == ("sandbox", "active", None)
    assert method.provider_token.startswith("tok_") and len(method.provider_token) > 20
    assert method.display_label == "KB국민 ****1234"
    assert list(payment_method_list(user=user, market=kr)) == [method]


def test_a_declined_method_is_not_stored(sandbox, kr):
    # given: a card the sandbox declines at approval (last4 0002)
    user = MemberFactory()

    # when / then: payment_method.declined (422), nothing stored
    with pytest.raises(MethodDeclined) as exc:
        services.payment_method_add(user=user, market=kr, kind="card", label="신한", last4="0002")
    assert (exc.value.code, exc.value.http_status) == ("payment_method.declined", 422)
    assert _approvals(sandbox) == 1
    assert PaymentMethod.objects.filter(user=user).count() == 0


@pytest.mark.parametrize(("field", "value", "secret"), SERVICE_CARD_LIKE)
def test_card_like_input_is_refused_by_the_service_before_the_provider(sandbox, kr, field, value, secret):
    # given: a member and the fields of an otherwise valid method
    user = MemberFactory()
    fields = {"kind": "card", "label": "KB국민", "last4": "1234"}
    fields[field] = value

    # when / then: payment_method.card_number_refused, naming no value
    with pytest.raises(CardNumberRefused) as exc:
        services.payment_method_add(user=user, market=kr, **fields)
    assert (exc.value.code, exc.value.http_status, exc.value.params) == (
        "payment_method.card_number_refused",
        400,
        {},
    )
    assert secret not in str(exc.value)

    # and: the provider was never asked, nothing stored
    assert _approvals(sandbox) == 0
    assert PaymentMethod.objects.filter(user=user).count() == 0


def _squeezed(text: str) -> str:
    """``text`` without the separators a number may be written with."""
    return re.sub(r"[\s.\-_/]", "", text)


@pytest.mark.parametrize(("field", "value", "secret"), CARD_LIKE)
def test_card_like_input_through_the_api_is_refused_and_never_logged(
    sandbox, kr, caplog, capfd, field, value, secret
):
    # given: a signed-in member; everything logged at any level is captured (stdlib records,
    # structlog through them, and the console handler's stderr/stdout)
    user = MemberFactory()
    client = APIClient()
    body = {"kind": "card", "label": "KB국민", "last4": "1234", field: value}
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()  # only what this request logs

    # when: the app posts the method
    response = client.post("/api/v1/payment-methods", body, format="json", **_auth(user))

    # then: 400 payment_method.card_number_refused; nothing stored; the provider never asked
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "payment_method.card_number_refused"
    assert PaymentMethod.objects.filter(user=user).count() == 0
    assert _approvals(sandbox) == 0

    # and: the request and the refusal were logged (so the capture works) ...
    out, err = capfd.readouterr()
    records = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {getattr(r, '__dict__', {})!r}"
        for r in caplog.records
    )
    logged = "\n".join([caplog.text, records, out, err])
    assert "request_finished" in logged
    if field != "card_number":  # the service's check logs the refusal (no value)
        assert "payments.card_data_refused" in logged

    # ... and neither the value nor its digits, with or without separators, appear in the
    # logs or the response
    for text in (logged, response.content.decode()):
        assert value not in text
        assert secret not in text
        assert _squeezed(secret) not in _squeezed(text)


def test_a_valid_method_through_the_api_is_created(sandbox, kr):
    # given: a signed-in member
    user = MemberFactory()

    # when
    response = APIClient().post(
        "/api/v1/payment-methods",
        {"kind": "card", "label": "KB국민", "last4": "1234"},
        format="json",
        **_auth(user),
    )

    # then: 201, the method stored with its token (never returned)
    assert response.status_code == 201, response.content
    method = PaymentMethod.objects.get(user=user)
    assert response.json()["id"] == str(method.public_id)
    assert method.provider_token not in response.content.decode()


def test_at_most_payment_methods_max_active_methods(sandbox, kr, settings):
    # given: a limit of 2 and a member with 2 methods
    settings.PAYMENT_METHODS_MAX = 2
    user = MemberFactory()
    first = method_for(user, kr, last4="1111")
    method_for(user, kr, last4="2222")

    # when / then: a third is payment_method.limit; the provider is not asked
    with pytest.raises(MethodLimit) as exc:
        method_for(user, kr, last4="3333")
    assert (exc.value.code, exc.value.params) == ("payment_method.limit", {"max": 2})
    assert _approvals(sandbox) == 2
    assert PaymentMethod.objects.filter(user=user).count() == 2

    # and: a removed method frees its place
    services.payment_method_remove(user=user, public_id=first.public_id)
    assert method_for(user, kr, last4="3333").status == "active"
    assert PaymentMethod.objects.filter(user=user, status="active").count() == 2


def test_removing_a_method_is_soft_and_keeps_its_charges(sandbox, kr):
    # given: a method that paid a top-up
    user = MemberFactory()
    method = method_for(user, kr)
    charge = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=1_000, request_key="k"
    ).charge

    # when: the member removes it
    removed = services.payment_method_remove(user=user, public_id=method.public_id)

    # then: removed (not deleted), off the list, the charge still points at it
    assert (removed.pk, removed.status) == (method.pk, "removed")
    assert removed.removed_at is not None
    assert list(payment_method_list(user=user, market=kr)) == []
    assert Charge.objects.get(pk=charge.pk).payment_method_id == method.pk

    # and: it can neither pay nor be removed again
    with pytest.raises(MethodNotFound):
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=1_000, request_key="k2")
    with pytest.raises(MethodNotFound):
        services.payment_method_remove(user=user, public_id=method.public_id)


def test_another_member_cannot_remove_a_method(sandbox, kr):
    # given: Alice's method
    alice, mallory = MemberFactory(), MemberFactory()
    method = method_for(alice, kr)

    # when / then: Mallory removing it is payment_method.not_found; it stays active
    with pytest.raises(MethodNotFound):
        services.payment_method_remove(user=mallory, public_id=method.public_id)
    method.refresh_from_db()
    assert (method.status, method.removed_at) == ("active", None)

    # and: through the API too (404, no hint that it exists)
    response = APIClient().delete(f"/api/v1/payment-methods/{method.public_id}", **_auth(mallory))
    assert response.status_code == 404
    assert response.json()["code"] == "payment_method.not_found"
    method.refresh_from_db()
    assert method.status == "active"
