"""Wallet API end to end (API.md "Wallet"): balance, ledger, payment methods, top-ups
through the sandbox provider (a real HTTP server), and staff adjustments."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from apps.accounts import tokens
from apps.core import clock
from apps.core.models import IdempotencyKey
from apps.markets.services import markets_cache_clear
from apps.payments import services
from apps.payments.models import Charge, PaymentMethod, Wallet, WalletEntry
from apps.payments.providers import reset_provider
from tests.accounts.factories import MemberFactory, staff, system_client
from tests.payments.factories import funded_wallet, ledger_sum, method_for

pytestmark = pytest.mark.django_db

WALLET = "/api/v1/wallet"
LEDGER = "/api/v1/wallet/transactions"
METHODS = "/api/v1/payment-methods"
TOP_UPS = "/api/v1/wallet/top-ups"
CARD = "4111 1111 1111 1111 0000"  # 20 digits, spaces between: never echoed


def _bearer(user, **extra) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user, extra=extra or None)}"}


def _key(value: str | None = None) -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": value or f"k-{uuid.uuid4()}"}


def _adjustments(user_id: int) -> str:
    return f"/api/v1/internal/wallets/{user_id}/adjustments"


def _debit(wallet: Wallet, amount: int, reference: str) -> None:
    with transaction.atomic():
        services.wallet_debit(
            wallet=wallet, amount=amount, kind=WalletEntry.Kind.PAYMENT, reference=reference
        )


# --- GET /wallet -----------------------------------------------------------------------------


def test_a_member_without_a_wallet_reads_a_zero_balance_and_nothing_is_created(api_client):
    member = MemberFactory()

    response = api_client.get(WALLET, **_bearer(member))

    assert response.status_code == 200
    assert response.json() == {
        "balance": {"amount": 0, "currency": "KRW", "display": "₩0"},
        "currency": "KRW",
        "market": "KR",
    }
    assert Wallet.objects.count() == 0
    assert "no-store" in response["Cache-Control"]


def test_the_wallet_of_the_request_market(api_client, kr, us):
    member = MemberFactory(locale="en")
    funded_wallet(member, kr, 12900)
    funded_wallet(member, us, 250)

    got_kr = api_client.get(WALLET, **_bearer(member))
    got_us = api_client.get(WALLET, HTTP_X_MARKET="US", HTTP_ACCEPT_LANGUAGE="en", **_bearer(member))

    assert got_kr.json()["balance"] == {"amount": 12900, "currency": "KRW", "display": "₩12,900"}
    assert got_us.json() == {
        "balance": {"amount": 250, "currency": "USD", "display": "$2.50"},
        "currency": "USD",
        "market": "US",
    }


def test_guests_get_401_and_accounts_without_the_member_role_403(api_client):
    cs = staff("cs_agent")
    client, _ = system_client("wallet data platform")

    guest = api_client.get(WALLET, HTTP_ACCEPT_LANGUAGE="ko")
    staff_answer = api_client.get(WALLET, **_bearer(cs))
    system = api_client.get(
        WALLET, **_bearer(client.user, client_id=client.client_id, roles=["data_platform"])
    )

    assert guest.status_code == 401 and guest.json()["code"] == "auth.login_required"
    assert guest.json()["detail"] == "계속하려면 로그인해 주세요."
    assert staff_answer.status_code == 403 and staff_answer.json()["code"] == "auth.permission_denied"
    assert system.status_code == 403 and system.json()["code"] == "auth.permission_denied"


# --- GET /wallet/transactions ----------------------------------------------------------------


def test_the_ledger_newest_first_with_signed_amounts_and_no_staff_reason(api_client, kr):
    member = MemberFactory()
    wallet = funded_wallet(member, kr, 10000)
    _debit(wallet, 3000, "order:1:payment")

    response = api_client.get(LEDGER, HTTP_ACCEPT_LANGUAGE="en", **_bearer(member))

    assert response.status_code == 200
    body = response.json()
    payment, adjustment = body["results"]
    entry = WalletEntry.objects.get(reference="order:1:payment")
    assert payment == {
        "id": entry.pk,
        "kind": "payment",
        "amount": {"amount": -3000, "currency": "KRW", "display": "-₩3,000"},
        "balance_after": {"amount": 7000, "currency": "KRW", "display": "₩7,000"},
        "reference": "order:1:payment",
        "created_at": payment["created_at"],
        "description": "결제",  # the member's profile language (ko) wins over Accept-Language
    }
    assert adjustment["kind"] == "adjustment" and adjustment["amount"]["amount"] == 10000
    assert adjustment["description"] == "조정"
    assert "test funding" not in response.content.decode()  # the staff reason stays internal
    assert body["next"] is None and body["previous"] is None
    assert "no-store" in response["Cache-Control"]


def test_the_ledger_of_a_member_without_a_wallet_is_empty(api_client):
    response = api_client.get(LEDGER, **_bearer(MemberFactory()))

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None, "previous": None}


def test_the_ledger_pages_with_a_cursor(api_client, kr):
    member = MemberFactory()
    wallet = funded_wallet(member, kr, 10000)
    for n in range(4):
        _debit(wallet, 100, f"order:{n}:payment")

    first = api_client.get(LEDGER, {"limit": 2}, **_bearer(member)).json()
    second = api_client.get(first["next"], **_bearer(member)).json()
    third = api_client.get(second["next"], **_bearer(member)).json()

    refs = [row["reference"] for page in (first, second, third) for row in page["results"]]
    assert refs[:4] == ["order:3:payment", "order:2:payment", "order:1:payment", "order:0:payment"]
    assert len(refs) == 5 and refs[4].startswith("test:")
    assert third["next"] is None


def test_the_ledger_filters_by_kind(api_client, kr):
    member = MemberFactory()
    wallet = funded_wallet(member, kr, 10000)
    _debit(wallet, 100, "order:9:payment")

    response = api_client.get(LEDGER, {"kind": "payment"}, **_bearer(member))

    assert [row["reference"] for row in response.json()["results"]] == ["order:9:payment"]


def test_an_unknown_kind_is_request_invalid(api_client):
    response = api_client.get(LEDGER, {"kind": "gift"}, **_bearer(MemberFactory()))

    assert response.status_code == 400
    assert response.json()["code"] == "request.invalid"
    assert [e["field"] for e in response.json()["errors"]] == ["kind"]


def test_a_date_is_the_markets_local_day(api_client, kr, monkeypatch):
    member = MemberFactory()
    seoul = ZoneInfo("Asia/Seoul")
    now = [dt.datetime(2025, 3, 1, 0, 30, tzinfo=seoul)]
    monkeypatch.setattr("apps.core.clock.now", lambda: now[0])
    # 1 March 00:30 in Seoul is still 28 February in UTC.
    wallet = funded_wallet(member, kr, 10000)
    now[0] = dt.datetime(2025, 3, 2, 23, 50, tzinfo=seoul)
    _debit(wallet, 100, "order:late:payment")
    now[0] = dt.datetime(2025, 3, 3, 0, 10, tzinfo=seoul)
    _debit(wallet, 100, "order:next-day:payment")

    first_day = api_client.get(
        LEDGER, {"created_from": "2025-03-01", "created_to": "2025-03-01"}, **_bearer(member)
    )
    second_day = api_client.get(
        LEDGER, {"created_from": "2025-03-02", "created_to": "2025-03-02"}, **_bearer(member)
    )
    from_a_time = api_client.get(LEDGER, {"created_from": "2025-03-02T23:00:00+09:00"}, **_bearer(member))
    before_a_time = api_client.get(LEDGER, {"created_to": "2025-03-02T23:50:00"}, **_bearer(member))

    def refs(response):
        assert response.status_code == 200, response.json()
        return [row["reference"][:5] for row in response.json()["results"]]

    assert refs(first_day) == ["test:"]
    assert (
        refs(second_day) == ["order"] and second_day.json()["results"][0]["reference"] == "order:late:payment"
    )
    assert [r["reference"] for r in from_a_time.json()["results"]] == [
        "order:next-day:payment",
        "order:late:payment",
    ]
    assert refs(before_a_time) == ["test:"]  # a date-time without offset is Seoul's; exclusive


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_to": "2025-13-01"}, "created_to"),
        ({"created_from": "2025-03-02", "created_to": "2025-03-01"}, "created_to"),
    ],
)
def test_bad_dates_are_request_invalid(api_client, params, field):
    response = api_client.get(LEDGER, params, **_bearer(MemberFactory()))

    assert response.status_code == 400
    assert response.json()["code"] == "request.invalid"
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize("entries", [1, 25])
def test_the_ledger_query_count_does_not_grow_with_the_page(
    api_client, kr, django_assert_num_queries, entries
):
    member = MemberFactory()
    wallet = funded_wallet(member, kr, 100000)
    for n in range(entries - 1):
        _debit(wallet, 1, f"order:{n}:payment")
    headers = _bearer(member)
    api_client.get(LEDGER, **headers)  # warm the per-process caches (markets, content types)

    # the user with the member check (one query), wallet, the page
    with django_assert_num_queries(3):
        response = api_client.get(LEDGER, **headers)

    assert len(response.json()["results"]) == min(entries, 20)


# --- payment methods -------------------------------------------------------------------------


def test_a_member_adds_lists_and_removes_a_method(api_client, sandbox):
    member = MemberFactory()

    added = api_client.post(
        METHODS, {"kind": "card", "label": "KB국민", "last4": "1234"}, format="json", **_bearer(member)
    )
    listed = api_client.get(METHODS, **_bearer(member))
    method = PaymentMethod.objects.get()
    removed = api_client.delete(f"{METHODS}/{method.public_id}", **_bearer(member))
    after = api_client.get(METHODS, **_bearer(member))

    assert added.status_code == 201
    assert added.json() == {
        "id": str(method.public_id),
        "kind": "card",
        "label": "KB국민",
        "last4": "1234",
        "display_label": "KB국민 ****1234",
        "market": "KR",
        "created_at": added.json()["created_at"],
    }
    assert method.provider_token and method.provider_token not in added.content.decode()
    assert listed.json() == {"results": [added.json()]}
    assert removed.status_code == 204
    assert after.json() == {"results": []}
    method.refresh_from_db()
    assert method.status == PaymentMethod.Status.REMOVED


def test_the_list_holds_only_the_members_active_methods_of_the_market(api_client, sandbox, kr, us):
    member, other = MemberFactory(), MemberFactory()
    mine = method_for(member, kr, label="신한", last4="1111")
    method_for(member, us, label="Chase", last4="2222")
    services.payment_method_remove(user=member, public_id=method_for(member, kr, last4="3333").public_id)
    method_for(other, kr, last4="4444")

    response = api_client.get(METHODS, **_bearer(member))

    assert [m["id"] for m in response.json()["results"]] == [str(mine.public_id)]


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "card", "label": CARD, "last4": "0000"},
        {"kind": "card", "label": "41111111111111110000", "last4": "0000"},
        {"kind": "card", "label": "Visa", "last4": "41111111111111110000"},
        {"kind": "41111111111111110000", "label": "Visa", "last4": "0000"},
        {"kind": "card", "label": "Visa", "last4": "0000", "number": "41111111111111110000"},
        {"kind": "card", "label": "Visa", "last4": 41111111111111110000},
    ],
    ids=["spaced", "label", "last4", "kind", "extra-field", "number"],
)
def test_card_numbers_are_refused_and_never_echoed(api_client, sandbox, body, caplog, capfd):
    member = MemberFactory()

    response = api_client.post(METHODS, body, format="json", HTTP_ACCEPT_LANGUAGE="en", **_bearer(member))

    assert response.status_code == 400
    assert response.json()["code"] == "payment_method.card_number_refused"
    assert response.json()["title"] == "카드 번호는 입력하지 마세요"  # the member's profile language
    text = response.content.decode() + str(dict(response.items()))
    assert "41111111111111110000" not in text and "1111 0000" not in text and "4111" not in text
    assert PaymentMethod.objects.count() == 0
    assert sandbox.stats()["requests"]["approve_method"] == 0
    logged = caplog.text + "".join(capfd.readouterr())
    assert "41111111111111110000" not in logged and "1111 0000" not in logged


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "paypal", "label": "Visa", "last4": "1234"},
        {"kind": "card", "label": "x" * 41, "last4": "1234"},
        {"kind": "card", "label": "", "last4": "1234"},
        {"kind": "card", "label": "Visa", "last4": "12a4"},
        {"kind": "card", "label": "Visa"},
        {"kind": "card", "label": ["Visa"], "last4": "1234"},
    ],
    ids=["kind", "long-label", "blank-label", "last4", "missing-last4", "list-label"],
)
def test_invalid_methods_are_refused(api_client, sandbox, body):
    response = api_client.post(METHODS, body, format="json", **_bearer(MemberFactory()))

    assert response.status_code == 400
    assert response.json()["code"] == "payment_method.invalid"
    assert PaymentMethod.objects.count() == 0


def test_a_method_the_provider_declines_is_422(api_client, sandbox):
    body = {"kind": "card", "label": "Visa", "last4": "0002"}

    response = api_client.post(METHODS, body, format="json", **_bearer(MemberFactory()))

    assert response.status_code == 422
    assert response.json()["code"] == "payment_method.declined"
    assert PaymentMethod.objects.count() == 0


def test_too_many_methods_is_422(api_client, sandbox, settings, kr):
    settings.PAYMENT_METHODS_MAX = 1
    member = MemberFactory()
    method_for(member, kr)

    response = api_client.post(
        METHODS, {"kind": "card", "label": "Visa", "last4": "9999"}, format="json", **_bearer(member)
    )

    assert response.status_code == 422
    assert response.json()["code"] == "payment_method.limit" and response.json()["max"] == 1
    assert PaymentMethod.objects.count() == 1


def test_a_provider_that_is_down_is_503(api_client, sandbox):
    sandbox.set_fault("fail", operations=["approve_method"])

    response = api_client.post(
        METHODS, {"kind": "card", "label": "Visa", "last4": "1234"}, format="json", **_bearer(MemberFactory())
    )

    assert response.status_code == 503
    assert response.json()["code"] == "payment.provider_unavailable"
    assert PaymentMethod.objects.count() == 0


def test_removing_an_unknown_or_anothers_method_is_404(api_client, sandbox, kr):
    member, other = MemberFactory(), MemberFactory()
    theirs = method_for(other, kr)

    unknown = api_client.delete(f"{METHODS}/{uuid.uuid4()}", **_bearer(member))
    not_uuid = api_client.delete(f"{METHODS}/12", **_bearer(member))
    anothers = api_client.delete(f"{METHODS}/{theirs.public_id}", **_bearer(member))

    for response in (unknown, not_uuid, anothers):
        assert response.status_code == 404
        assert response.json()["code"] == "payment_method.not_found"
    theirs.refresh_from_db()
    assert theirs.status == PaymentMethod.Status.ACTIVE


# --- top-ups ---------------------------------------------------------------------------------


def test_a_top_up_charges_the_method_and_credits_the_wallet(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr)

    response = api_client.post(
        TOP_UPS,
        {"amount": 50000, "payment_method_id": str(method.public_id)},
        format="json",
        **_key(),
        **_bearer(member),
    )

    assert response.status_code == 201
    charge = Charge.objects.get()
    entry = WalletEntry.objects.get(charge=charge)
    assert response.json() == {
        "id": entry.pk,
        "kind": "top_up",
        "amount": {"amount": 50000, "currency": "KRW", "display": "₩50,000"},
        "balance_after": {"amount": 50000, "currency": "KRW", "display": "₩50,000"},
        "reference": f"charge:{charge.reference}",
        "created_at": response.json()["created_at"],
        "description": "충전",  # the member's profile language (ko)
        "top_up": {
            "id": str(charge.reference),
            "status": "succeeded",
            "amount": {"amount": 50000, "currency": "KRW", "display": "₩50,000"},
            "payment_method_id": str(method.public_id),
            "created_at": response.json()["top_up"]["created_at"],
        },
    }
    wallet = Wallet.objects.get(user=member)
    assert wallet.balance == 50000 == ledger_sum(wallet)
    assert sandbox.stats()["charges_applied"] == {str(charge.reference): 1}


def test_a_replayed_key_returns_the_stored_answer_and_credits_once(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr)
    body = {"amount": 10000, "payment_method_id": str(method.public_id)}
    key = _key("top-up-1")

    first = api_client.post(TOP_UPS, body, format="json", **key, **_bearer(member))
    again = api_client.post(TOP_UPS, body, format="json", **key, **_bearer(member))

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    wallet = Wallet.objects.get(user=member)
    assert wallet.balance == 10000 == ledger_sum(wallet)
    assert Charge.objects.count() == 1 and sum(sandbox.stats()["charges_applied"].values()) == 1


def test_the_same_key_with_another_body_is_key_reused(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr)
    key = _key("top-up-2")
    api_client.post(
        TOP_UPS,
        {"amount": 10000, "payment_method_id": str(method.public_id)},
        format="json",
        **key,
        **_bearer(member),
    )

    response = api_client.post(
        TOP_UPS,
        {"amount": 20000, "payment_method_id": str(method.public_id)},
        format="json",
        **key,
        **_bearer(member),
    )

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency.key_reused"
    assert Wallet.objects.get(user=member).balance == 10000


def test_a_top_up_without_a_key_is_400(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr)

    response = api_client.post(
        TOP_UPS,
        {"amount": 10000, "payment_method_id": str(method.public_id)},
        format="json",
        **_bearer(member),
    )

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency.key_required"
    assert Charge.objects.count() == 0


@pytest.mark.parametrize("amount", [0, -100, "100", 1.5, True, None, 10**14])
def test_bad_amounts_are_amount_invalid(api_client, sandbox, kr, amount):
    member = MemberFactory()
    method = method_for(member, kr)

    response = api_client.post(
        TOP_UPS,
        {"amount": amount, "payment_method_id": str(method.public_id)},
        format="json",
        **_key(),
        **_bearer(member),
    )

    assert response.status_code == 400
    assert response.json()["code"] == "wallet.amount_invalid"
    assert Charge.objects.count() == 0 and Wallet.objects.count() == 0


@pytest.mark.parametrize("method_id", [None, "12", 12])
def test_a_malformed_method_id_is_request_invalid(api_client, method_id):
    response = api_client.post(
        TOP_UPS,
        {"amount": 100, "payment_method_id": method_id},
        format="json",
        **_key(),
        **_bearer(MemberFactory()),
    )

    assert response.status_code == 400
    assert response.json()["code"] == "request.invalid"
    assert [e["field"] for e in response.json()["errors"]] == ["payment_method_id"]


def test_an_unknown_or_anothers_method_is_404(api_client, sandbox, kr):
    member, other = MemberFactory(), MemberFactory()
    theirs = method_for(other, kr)

    unknown = api_client.post(
        TOP_UPS,
        {"amount": 100, "payment_method_id": str(uuid.uuid4())},
        format="json",
        **_key(),
        **_bearer(member),
    )
    anothers = api_client.post(
        TOP_UPS,
        {"amount": 100, "payment_method_id": str(theirs.public_id)},
        format="json",
        **_key(),
        **_bearer(member),
    )

    for response in (unknown, anothers):
        assert response.status_code == 404
        assert response.json()["code"] == "payment_method.not_found"
    assert Charge.objects.count() == 0


def test_a_method_of_another_market_is_422(api_client, sandbox, us):
    member = MemberFactory()
    method = method_for(member, us, label="Chase")

    response = api_client.post(
        TOP_UPS,
        {"amount": 100, "payment_method_id": str(method.public_id)},
        format="json",
        **_key(),
        **_bearer(member),
    )

    assert response.status_code == 422
    assert response.json()["code"] == "payment_method.market_mismatch"
    assert response.json()["method_market"] == "US" and response.json()["market"] == "KR"
    assert Charge.objects.count() == 0


def test_a_top_up_above_the_limit_is_422(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr)
    kr.wallet_top_up_limit = 30000
    kr.save(update_fields=["wallet_top_up_limit"])
    markets_cache_clear()

    response = api_client.post(
        TOP_UPS,
        {"amount": 30001, "payment_method_id": str(method.public_id)},
        format="json",
        **_key(),
        **_bearer(member),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 422
    assert response.json()["code"] == "wallet.top_up_limit"
    assert response.json()["period"] == "per_top_up" and response.json()["limit"] == "₩30,000"
    assert Charge.objects.count() == 0


def test_a_declined_charge_is_402_and_credits_nothing(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr, last4="0051")
    key = _key()

    response = api_client.post(
        TOP_UPS,
        {"amount": 10000, "payment_method_id": str(method.public_id)},
        format="json",
        **key,
        **_bearer(member),
    )
    replay = api_client.post(
        TOP_UPS,
        {"amount": 10000, "payment_method_id": str(method.public_id)},
        format="json",
        **key,
        **_bearer(member),
    )

    assert response.status_code == 402
    assert response.json()["code"] == "payment.declined" and response.json()["reason"]
    assert replay.status_code == 402 and replay["Idempotent-Replayed"] == "true"
    assert Wallet.objects.get(user=member).balance == 0 and WalletEntry.objects.count() == 0


def test_a_provider_that_is_down_is_503_and_the_same_key_may_retry(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr)
    body = {"amount": 10000, "payment_method_id": str(method.public_id)}
    key = _key("top-up-retry")
    sandbox.set_fault("fail", operations=["charge"])

    down = api_client.post(TOP_UPS, body, format="json", **key, **_bearer(member))
    sandbox.set_fault("ok")
    reset_provider()  # a fresh, closed breaker
    retried = api_client.post(TOP_UPS, body, format="json", **key, **_bearer(member))

    assert down.status_code == 503
    assert down.json()["code"] == "payment.provider_unavailable"
    assert int(down["Retry-After"]) >= 1
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Charge.objects.count() == 1  # the same charge (same reference) was sent again
    wallet = Wallet.objects.get(user=member)
    assert wallet.balance == 10000 == ledger_sum(wallet)
    assert sum(sandbox.stats()["charges_applied"].values()) == 1


def test_a_released_key_sent_with_another_body_does_not_resume_the_first_charge(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr)
    key = _key("top-up-released")
    sandbox.set_fault("fail", operations=["charge"])
    api_client.post(
        TOP_UPS,
        {"amount": 10000, "payment_method_id": str(method.public_id)},
        format="json",
        **key,
        **_bearer(member),
    )
    sandbox.set_fault("ok")

    response = api_client.post(
        TOP_UPS,
        {"amount": 20000, "payment_method_id": str(method.public_id)},
        format="json",
        **key,
        **_bearer(member),
    )

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency.key_reused"
    charge = Charge.objects.get()
    assert (charge.status, charge.amount) == (Charge.Status.FAILED, 10000)
    assert Wallet.objects.get(user=member).balance == 0


def test_a_timed_out_charge_is_202_pending_and_polled_until_credited(api_client, sandbox, kr, settings):
    member = MemberFactory()
    method = method_for(member, kr)
    sandbox.set_fault("timeout", delay=1.5, operations=["charge"])

    response = api_client.post(
        TOP_UPS,
        {"amount": 10000, "payment_method_id": str(method.public_id)},
        format="json",
        **_key(),
        **_bearer(member),
    )
    charge = Charge.objects.get()
    pending = api_client.get(f"{TOP_UPS}/{charge.reference}", **_bearer(member))
    sandbox.set_fault("ok")
    services.charges_settle_pending(
        now=clock.now() + dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS)
    )
    settled = api_client.get(f"{TOP_UPS}/{charge.reference}", **_bearer(member))

    assert response.status_code == 202
    assert response["Location"] == f"/api/v1/wallet/top-ups/{charge.reference}"
    assert response.json()["transaction"] is None
    assert response.json()["top_up"] == {
        "id": str(charge.reference),
        "status": "pending",
        "amount": {"amount": 10000, "currency": "KRW", "display": "₩10,000"},
        "payment_method_id": str(method.public_id),
        "created_at": response.json()["top_up"]["created_at"],
    }
    assert pending.status_code == 200
    assert pending.json() == {**response.json()["top_up"], "transaction": None}
    assert settled.json()["status"] == "succeeded"
    entry = WalletEntry.objects.get(charge=charge)
    assert settled.json()["transaction"]["id"] == entry.pk
    assert settled.json()["transaction"]["amount"]["amount"] == 10000
    wallet = Wallet.objects.get(user=member)
    assert wallet.balance == 10000 == ledger_sum(wallet)
    assert sandbox.stats()["charges_applied"] == {str(charge.reference): 1}


def test_an_unknown_or_anothers_top_up_is_404(api_client, sandbox, kr):
    member, other = MemberFactory(), MemberFactory()
    method = method_for(other, kr)
    api_client.post(
        TOP_UPS,
        {"amount": 100, "payment_method_id": str(method.public_id)},
        format="json",
        **_key(),
        **_bearer(other),
    )
    theirs = Charge.objects.get()

    for path in (f"{TOP_UPS}/{uuid.uuid4()}", f"{TOP_UPS}/nope", f"{TOP_UPS}/{theirs.reference}"):
        response = api_client.get(path, **_bearer(member))
        assert response.status_code == 404, path
        assert response.json()["code"] == "wallet.top_up_not_found"


def test_a_credited_top_up_reads_with_its_transaction(api_client, sandbox, kr):
    member = MemberFactory()
    method = method_for(member, kr)
    created = api_client.post(
        TOP_UPS,
        {"amount": 700, "payment_method_id": str(method.public_id)},
        format="json",
        **_key(),
        **_bearer(member),
    ).json()

    response = api_client.get(f"{TOP_UPS}/{created['top_up']['id']}", **_bearer(member))

    transaction_part = {k: v for k, v in created.items() if k != "top_up"}
    assert response.json() == {**created["top_up"], "transaction": transaction_part}


# --- staff adjustments -----------------------------------------------------------------------


def test_cs_credits_a_wallet_within_the_limit(api_client, kr):
    member = MemberFactory()
    cs = staff("cs_agent", market="KR", email="cs-kr@staff.test")

    response = api_client.post(
        _adjustments(member.pk), {"amount": 5000, "reason": "Late delivery"}, format="json", **_bearer(cs)
    )

    assert response.status_code == 201
    entry = WalletEntry.objects.get()
    assert response.json() == {
        "id": entry.pk,
        "kind": "adjustment",
        "amount": {"amount": 5000, "currency": "KRW", "display": "₩5,000"},
        "balance_after": {"amount": 5000, "currency": "KRW", "display": "₩5,000"},
        "reference": entry.reference,
        "created_at": response.json()["created_at"],
        "description": response.json()["description"],
        "user_id": member.pk,
        "actor_id": cs.pk,
        "market": "KR",
        "reason": "Late delivery",
    }
    assert (entry.actor_id, entry.reason) == (cs.pk, "Late delivery")
    assert str(cs.pk) not in entry.reference.split(":")  # the member's ledger names no staff


def test_cs_above_the_market_limit_is_403_and_nothing_changes(api_client, kr):
    member = MemberFactory()
    funded_wallet(member, kr, 1000)
    cs = staff("cs_agent")
    limit = kr.wallet_adjustment_limit

    response = api_client.post(
        _adjustments(member.pk),
        {"amount": limit + 1, "reason": "Goodwill"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
        **_bearer(cs),
    )

    assert response.status_code == 403
    assert response.json()["code"] == "wallet.adjustment_limit" and response.json()["limit"] == kr.money(
        limit
    ).format(response["Content-Language"])
    assert Wallet.objects.get(user=member).balance == 1000 and WalletEntry.objects.count() == 1


def test_ops_adjust_without_limit_and_debits_are_signed(api_client, kr):
    member = MemberFactory()
    ops = staff("ops_admin")

    credit = api_client.post(
        _adjustments(member.pk), {"amount": 900000, "reason": "Migration"}, format="json", **_bearer(ops)
    )
    debit = api_client.post(
        _adjustments(member.pk), {"amount": -100000, "reason": "Correction"}, format="json", **_bearer(ops)
    )

    assert credit.status_code == debit.status_code == 201
    assert debit.json()["amount"]["amount"] == -100000 and debit.json()["balance_after"]["amount"] == 800000
    wallet = Wallet.objects.get(user=member)
    assert wallet.balance == 800000 == ledger_sum(wallet)


def test_a_debit_beyond_the_balance_is_402_and_nothing_changes(api_client, kr):
    member = MemberFactory()
    funded_wallet(member, kr, 1000)

    response = api_client.post(
        _adjustments(member.pk),
        {"amount": -1001, "reason": "Chargeback"},
        format="json",
        **_bearer(staff("ops_admin")),
    )

    assert response.status_code == 402
    assert response.json()["code"] == "wallet.insufficient_balance"
    assert Wallet.objects.get(user=member).balance == 1000 and WalletEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 0, "reason": "Nothing"}, "wallet.adjustment_invalid"),
        ({"amount": 100}, "request.invalid"),
        ({"amount": 100, "reason": "   "}, "request.invalid"),
        ({"amount": 100, "reason": "x" * 501}, "request.invalid"),
        ({"amount": "lots", "reason": "Why"}, "request.invalid"),
        ({"amount": 10**14, "reason": "Why"}, "request.invalid"),
    ],
)
def test_invalid_adjustments_are_refused(api_client, kr, body, code):
    member = MemberFactory()

    response = api_client.post(_adjustments(member.pk), body, format="json", **_bearer(staff("ops_admin")))

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert Wallet.objects.count() == 0 and WalletEntry.objects.count() == 0


def test_an_unknown_member_or_market_is_wallet_not_found(api_client):
    ops = staff("ops_admin")
    member = MemberFactory()

    unknown = api_client.post(
        _adjustments(10**9), {"amount": 100, "reason": "Why"}, format="json", **_bearer(ops)
    )
    market = api_client.post(
        _adjustments(member.pk),
        {"amount": 100, "reason": "Why", "market": "XX"},
        format="json",
        **_bearer(ops),
    )

    for response in (unknown, market):
        assert response.status_code == 404
        assert response.json()["code"] == "wallet.not_found"
    assert WalletEntry.objects.count() == 0


def test_a_kr_only_agent_cannot_adjust_a_us_wallet(api_client, us):
    member = MemberFactory()
    funded_wallet(member, us, 500)
    cs_kr = staff("cs_agent", market="KR", email="cs-kr-only@staff.test")

    by_header = api_client.post(
        _adjustments(member.pk),
        {"amount": 100, "reason": "Why"},
        format="json",
        HTTP_X_MARKET="US",
        **_bearer(cs_kr),
    )
    by_body = api_client.post(
        _adjustments(member.pk),
        {"amount": 100, "reason": "Why", "market": "US"},
        format="json",
        **_bearer(cs_kr),
    )

    for response in (by_header, by_body):
        assert response.status_code == 404
        assert response.json()["code"] == "wallet.not_found"
    wallet = Wallet.objects.get(user=member)
    assert wallet.balance == 500 and WalletEntry.objects.count() == 1


def test_an_agent_of_every_market_adjusts_a_us_wallet(api_client, us):
    member = MemberFactory()

    response = api_client.post(
        _adjustments(member.pk),
        {"amount": 100, "reason": "Why", "market": "us"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
        **_bearer(staff("cs_agent")),
    )

    assert response.status_code == 201
    money = response.json()["amount"]
    assert money == {
        "amount": 100,
        "currency": "USD",
        "display": us.money(100).format(response["Content-Language"]),
    }
    assert Wallet.objects.get(user=member).currency == "USD"


def test_an_adjustment_with_a_key_is_applied_once(api_client, kr):
    member = MemberFactory()
    cs = staff("cs_agent")
    key = _key("adjust-1")

    first = api_client.post(
        _adjustments(member.pk), {"amount": 100, "reason": "Why"}, format="json", **key, **_bearer(cs)
    )
    again = api_client.post(
        _adjustments(member.pk), {"amount": 100, "reason": "Why"}, format="json", **key, **_bearer(cs)
    )
    IdempotencyKey.objects.all().delete()  # the key expired: the reference still holds
    late = api_client.post(
        _adjustments(member.pk), {"amount": 100, "reason": "Why"}, format="json", **key, **_bearer(cs)
    )
    other = api_client.post(
        _adjustments(member.pk), {"amount": 200, "reason": "Why"}, format="json", **key, **_bearer(cs)
    )

    assert first.status_code == again.status_code == late.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert late.json()["id"] == first.json()["id"]
    assert other.status_code == 422 and other.json()["code"] == "idempotency.key_reused"
    assert Wallet.objects.get(user=member).balance == 100 and WalletEntry.objects.count() == 1


def test_adjustments_without_a_key_are_separate(api_client, kr):
    member = MemberFactory()
    cs = staff("cs_agent")

    for _ in range(2):
        response = api_client.post(
            _adjustments(member.pk), {"amount": 100, "reason": "Why"}, format="json", **_bearer(cs)
        )
        assert response.status_code == 201

    assert Wallet.objects.get(user=member).balance == 200 and WalletEntry.objects.count() == 2


@pytest.mark.parametrize("role", ["inventory_manager", "marketing_manager", "member", "data_platform"])
def test_roles_without_wallet_access_cannot_adjust(api_client, role):
    member = MemberFactory()
    if role == "data_platform":
        client, _ = system_client("adjust data platform")
        headers = _bearer(client.user, client_id=client.client_id, roles=["data_platform"])
    elif role == "member":
        headers = _bearer(MemberFactory())
    else:
        headers = _bearer(staff(role))

    response = api_client.post(
        _adjustments(member.pk), {"amount": 100, "reason": "Why"}, format="json", **headers
    )
    guest = api_client.post(_adjustments(member.pk), {"amount": 100, "reason": "Why"}, format="json")

    assert response.status_code == 403 and response.json()["code"] == "auth.permission_denied"
    assert guest.status_code == 401 and guest.json()["code"] == "auth.login_required"
    assert WalletEntry.objects.count() == 0


def test_error_titles_follow_the_members_language(api_client, sandbox, kr):
    english, korean = MemberFactory(locale="en"), MemberFactory(locale="ko")
    body_en = {"amount": 0, "payment_method_id": str(method_for(english, kr).public_id)}
    body_ko = {"amount": 0, "payment_method_id": str(method_for(korean, kr).public_id)}

    en = api_client.post(
        TOP_UPS, body_en, format="json", HTTP_ACCEPT_LANGUAGE="ko", **_key(), **_bearer(english)
    )
    ko = api_client.post(
        TOP_UPS, body_ko, format="json", HTTP_ACCEPT_LANGUAGE="en", **_key(), **_bearer(korean)
    )

    assert en.status_code == ko.status_code == 400
    assert en.json()["code"] == ko.json()["code"] == "wallet.amount_invalid"
    assert en.json()["title"] == "Invalid amount"
    assert en["Content-Language"] == "en" and ko["Content-Language"] == "ko"
