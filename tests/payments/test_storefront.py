"""The storefront wallet pages (issue 19, Deliver 7): /wallet/ (balance, ledger, top-up from a
saved method) and /wallet/methods/ (list, add, remove), through the Django test client
against the sandbox provider."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from apps.markets.models import Market
from apps.markets.services import markets_cache_clear
from apps.payments.models import Charge, PaymentMethod, Wallet, WalletEntry
from tests.payments.factories import MemberFactory, funded_wallet, ledger_sum, method_for, staff

pytestmark = pytest.mark.django_db

CARD_NUMBER = "4111 1111 1111 1111"
#: session, user, permissions (2), methods, wallet, one ledger page, the header's cart count
QUERIES_WALLET_PAGE = 8


def _client(user, *, language: str = "ko", market: str = "KR") -> Client:
    """Signed in, the page in ``language`` (the profile's language wins over the cookie)."""
    user.locale = language
    user.save(update_fields=["locale"])
    client = Client()
    client.force_login(user)
    client.cookies["joopang_lang"] = language
    client.cookies["joopang_market"] = market
    return client


def _member(market: str = "KR", email: str | None = None):
    return MemberFactory(
        email=email or f"wallet.{uuid.uuid4().hex[:8]}@example.test",
        locale="ko" if market == "KR" else "en",
        market_id=market,
    )


def _request_key(html: str) -> str:
    match = re.search(r'name="request_key" value="([0-9a-f-]{36})"', html)
    assert match, "the top-up form carries a request key"
    return match.group(1)


def _top_up(client: Client, method: PaymentMethod, amount: str, key: str | None = None):
    if key is None:
        key = _request_key(client.get("/wallet/").content.decode())
    return client.post("/wallet/", {"method": str(method.public_id), "amount": amount, "request_key": key})


def _wallet(user, market: Market) -> Wallet | None:
    return Wallet.objects.filter(user=user, currency=market.currency).first()


# --- access ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/wallet/", "/wallet/methods/"])
def test_a_guest_is_sent_to_sign_in_and_back(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_a_staff_account_has_no_wallet_page(kr):
    ops = staff("ops_admin")
    client = _client(ops)

    response = client.get("/wallet/")

    assert response.status_code == 403
    assert Wallet.objects.filter(user=ops).count() == 0


def test_the_pages_are_never_stored_by_a_cache(kr):
    client = _client(_member())

    for path in ("/wallet/", "/wallet/methods/"):
        response = client.get(path)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]


def test_the_header_links_to_the_wallet_for_a_member(kr):
    client = _client(_member())

    html = client.get("/").content.decode()

    assert 'id="wallet-link"' in html and 'href="/wallet/"' in html


# --- balance and ledger -----------------------------------------------------------------


def test_a_new_member_sees_a_zero_balance_and_is_asked_for_a_method_first(kr):
    user = _member()
    client = _client(user)

    response = client.get("/wallet/")
    html = response.content.decode()

    assert response.status_code == 200
    assert '<html lang="ko">' in html
    assert re.search(r'id="wallet-balance">₩0<', html)
    assert 'id="no-methods"' in html
    assert 'name="request_key"' not in html  # no top-up form without a method
    assert 'href="/wallet/methods/"' in html
    assert _wallet(user, kr) is None  # looking creates nothing


def test_balance_and_ledger_in_korean_with_won(kr, sandbox):
    user = _member()
    funded_wallet(user, kr, 25_000)  # an ops adjustment with the reason "test funding"
    method = method_for(user, kr)
    client = _client(user)
    assert _top_up(client, method, "10000").status_code == 302

    html = client.get("/wallet/").content.decode()

    assert re.search(r'id="wallet-balance">₩35,000<', html)
    rows = re.findall(r'<li class="ledger-row">(.*?)</li>', html, re.S)
    assert len(rows) == 2
    assert "+₩10,000" in rows[0] and "₩35,000" in rows[0] and 'class="ledger-amount credit"' in rows[0]
    assert "+₩25,000" in rows[1] and "₩25,000" in rows[1]
    assert re.search(r"\d{4}\. \d{1,2}\. \d{1,2}\. (오전|오후) \d{1,2}:\d\d", rows[0])
    assert "test funding" not in html  # a staff reason is never shown to the member


def test_balance_and_ledger_in_english_with_dollars(us, sandbox):
    user = _member("US")
    method = method_for(user, us, label="My Visa", last4="4242")
    client = _client(user, language="en", market="US")
    assert _top_up(client, method, "20").status_code == 302

    html = client.get("/wallet/").content.decode()

    assert '<html lang="en">' in html
    assert re.search(r'id="wallet-balance">\$20.00<', html)
    assert "+$20.00" in html
    assert "Top-up" in html
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d (AM|PM)", html)


def test_debits_are_shown_with_a_minus_and_the_balance_after(kr):
    user = _member()
    funded_wallet(user, kr, 10_000)
    funded_wallet(user, kr, -3_000)
    client = _client(user)

    html = client.get("/wallet/").content.decode()

    rows = re.findall(r'<li class="ledger-row">(.*?)</li>', html, re.S)
    assert "\u2212₩3,000" in rows[0] and 'class="ledger-amount debit"' in rows[0] and "₩7,000" in rows[0]
    assert re.search(r'id="wallet-balance">₩7,000<', html)


def test_the_ledger_shows_20_entries_a_page_with_a_link_to_older_ones(kr):
    user = _member()
    for _ in range(21):
        funded_wallet(user, kr, 100)
    client = _client(user)

    first = client.get("/wallet/").content.decode()
    second = client.get("/wallet/?page=2").content.decode()

    assert first.count('<li class="ledger-row">') == 20
    assert 'href="?page=2"' in first and "+₩100" in first
    assert second.count('<li class="ledger-row">') == 1
    assert 'href="?page=1"' in second and 'id="ledger-more"' not in second
    assert re.search(r"₩100<", second)  # the oldest entry: balance after ₩100


# --- top-ups ---------------------------------------------------------------------------


def test_a_top_up_credits_once_even_when_the_same_form_is_sent_twice(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user)
    key = _request_key(client.get("/wallet/").content.decode())

    first = _top_up(client, method, "10,000", key)
    second = _top_up(client, method, "10,000", key)  # a double click, or a refresh of the POST

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == "/wallet/"
    wallet = _wallet(user, kr)
    assert wallet is not None and wallet.balance == 10_000 == ledger_sum(wallet)
    assert WalletEntry.objects.filter(wallet=wallet).count() == 1
    assert Charge.objects.filter(user=user).count() == 1
    assert list(sandbox.stats()["charges_applied"].values()) == [1]
    assert sandbox.stats()["requests"]["charge"] == 1  # the second form found the first charge
    page = client.get("/wallet/").content.decode()
    assert page.count('<li class="ledger-row">') == 1


def test_a_top_up_shows_the_credited_amount_in_a_success_message(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user, language="en")

    response = _top_up(client, method, "30000")
    page = client.get(response["Location"]).content.decode()

    assert '<li class="message success">₩30,000 was added to your wallet.</li>' in page


def test_each_new_form_is_a_new_top_up(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user)

    _top_up(client, method, "10000")
    _top_up(client, method, "10000")

    wallet = _wallet(user, kr)
    assert wallet is not None and wallet.balance == 20_000
    assert WalletEntry.objects.filter(wallet=wallet).count() == 2


def test_usd_dollars_and_cents_become_cents_exactly(us, sandbox):
    user = _member("US")
    method = method_for(user, us, label="My Visa", last4="4242")
    client = _client(user, language="en", market="US")

    response = _top_up(client, method, "12.34")

    assert response.status_code == 302
    wallet = _wallet(user, us)
    assert wallet is not None and wallet.balance == 1234
    assert list(Charge.objects.filter(user=user).values_list("amount", flat=True)) == [1234]
    page = client.get("/wallet/").content.decode()
    assert "$12.34 was added to your wallet." in page


@pytest.mark.parametrize(
    ("market", "amount", "message"),
    [
        ("KR", "", "Enter an amount."),
        ("KR", "0", "Enter an amount greater than zero."),
        ("KR", "-5000", "Enter a whole number of won, such as 10000."),
        ("KR", "100.5", "Enter a whole number of won, such as 10000."),
        ("KR", "1e4", "Enter a whole number of won, such as 10000."),
        ("KR", "ten", "Enter a whole number of won, such as 10000."),
        ("KR", "99999999999999999999", "This amount is too large."),
        ("US", "12.345", "Enter an amount in dollars with at most two decimals, such as 12.34."),
        ("US", "0.00", "Enter an amount greater than zero."),
        ("US", "12,34", "Enter an amount in dollars with at most two decimals, such as 12.34."),
        ("US", "NaN", "Enter an amount in dollars with at most two decimals, such as 12.34."),
    ],
)
def test_a_bad_amount_is_refused_with_nothing_charged(market, amount, message, sandbox):
    m = Market.objects.get(code=market)
    user = _member(market)
    method = method_for(user, m, last4="4242")
    client = _client(user, language="en", market=market)

    response = _top_up(client, method, amount)

    assert response.status_code == 400
    html = response.content.decode()
    assert f'<ul class="errorlist" id="id_amount_error"><li>{message}</li></ul>' in html
    assert 'aria-invalid="true"' in html
    assert f'value="{amount}"' in html or amount == ""  # what was typed stays in the box
    assert Charge.objects.filter(user=user).count() == 0
    assert _wallet(user, m) is None
    assert sandbox.stats()["charges_applied"] == {}


def test_a_top_up_above_the_markets_limit_is_refused_with_nothing_charged(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user, language="en")
    limit = kr.wallet_top_up_limit

    response = _top_up(client, method, str(limit + 1))

    assert response.status_code == 422
    html = response.content.decode()
    assert f"You can top up at most {kr.money(limit).format('en')} at a time." in html
    assert Charge.objects.filter(user=user).count() == 0
    assert sandbox.stats()["charges_applied"] == {}


def test_a_declined_charge_shows_the_decline_and_keeps_the_form(kr, sandbox):
    user = _member()
    method = method_for(user, kr, label="Empty card", last4="0051")
    client = _client(user, language="en")
    key = _request_key(client.get("/wallet/").content.decode())

    response = _top_up(client, method, "10000", key)

    assert response.status_code == 402
    html = response.content.decode()
    assert (
        '<div class="wallet-error" role="alert" id="top-up-error">The payment provider declined the charge '
        "(not enough funds on the card or account). Nothing was charged.</div>"
    ) in html
    assert 'value="10000"' in html and "checked" in html
    assert _request_key(html) != key  # trying again is a new top-up
    assert _wallet(user, kr) is not None and _wallet(user, kr).balance == 0  # type: ignore[union-attr]
    assert WalletEntry.objects.count() == 0
    assert list(Charge.objects.filter(user=user).values_list("status", flat=True)) == ["failed"]


def test_the_provider_down_is_shown_and_nothing_is_credited(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user, language="en")
    sandbox.set_fault("fail")

    response = _top_up(client, method, "10000")

    assert response.status_code == 503
    assert "The payment provider cannot be reached right now." in response.content.decode()
    assert response["Retry-After"].isdigit()
    assert WalletEntry.objects.count() == 0


def test_a_charge_whose_answer_is_lost_is_reported_as_being_confirmed(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user, language="en")
    sandbox.set_fault("timeout")

    response = _top_up(client, method, "10000")

    assert response.status_code == 302
    page = client.get("/wallet/").content.decode()
    assert "Your payment of ₩10,000 is being confirmed; your balance updates when it is." in page
    assert list(Charge.objects.filter(user=user).values_list("status", flat=True)) == ["pending"]
    assert WalletEntry.objects.count() == 0
    assert re.search(r'id="wallet-balance">₩0<', page)


def test_a_method_of_another_member_cannot_be_charged(kr, sandbox):
    owner = _member()
    theirs = method_for(owner, kr)
    user = _member()
    mine = method_for(user, kr, last4="4242")
    client = _client(user, language="en")
    key = _request_key(client.get("/wallet/").content.decode())

    response = client.post(
        "/wallet/", {"method": str(theirs.public_id), "amount": "10000", "request_key": key}
    )

    assert response.status_code == 400
    assert "Choose one of your payment methods." in response.content.decode()
    assert Charge.objects.count() == 0
    assert mine.status == PaymentMethod.Status.ACTIVE


def test_a_quick_amount_without_javascript_fills_the_box_and_charges_nothing(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user)
    key = _request_key(client.get("/wallet/").content.decode())

    response = client.post(
        "/wallet/", {"method": str(method.public_id), "amount": "", "request_key": key, "fill": "30000"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'name="amount" value="30000"', html)
    assert _request_key(html) == key
    assert Charge.objects.count() == 0


def test_the_quick_amounts_are_in_the_markets_currency(us, sandbox):
    user = _member("US")
    method_for(user, us, last4="4242")
    client = _client(user, language="en", market="US")

    html = client.get("/wallet/").content.decode()

    assert re.findall(r'name="fill" value="(\d+)" data-amount="([\d.]+)"', html) == [
        ("1000", "10.00"),
        ("3000", "30.00"),
        ("5000", "50.00"),
    ]
    assert ">$10.00</button>" in html


# --- payment methods -------------------------------------------------------------------


def test_a_member_adds_a_method_and_sees_it_listed(kr, sandbox):
    user = _member()
    client = _client(user, language="en")

    response = client.post("/wallet/methods/", {"kind": "card", "label": "KB국민", "last4": "1234"})

    assert response.status_code == 302 and response["Location"] == "/wallet/methods/"
    method = PaymentMethod.objects.get(user=user)
    assert (method.kind, method.label, method.last4, method.market_id) == ("card", "KB국민", "1234", "KR")
    page = client.get("/wallet/methods/").content.decode()
    assert "“KB국민 ****1234” was added." in page
    assert '<span class="method-label">KB국민 ****1234</span>' in page
    assert "Card ·" in page
    wallet_page = client.get("/wallet/").content.decode()
    assert f'value="{method.public_id}"' in wallet_page and "KB국민 ****1234" in wallet_page


def test_a_card_number_is_refused_and_never_written_back(kr, sandbox):
    user = _member()
    client = _client(user, language="en")

    response = client.post("/wallet/methods/", {"kind": "card", "label": CARD_NUMBER, "last4": "1111"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Do not enter a full card or account number, or a security code." in html
    assert CARD_NUMBER not in html and "4111111111111111" not in html and "4111 1111" not in html
    assert re.search(r'<input type="text" name="label"(?![^>]*value=)[^>]*>', html)
    assert PaymentMethod.objects.count() == 0
    assert sandbox.stats()["requests"]["approve_method"] == 0  # never sent anywhere


def test_a_card_number_in_the_last_four_box_is_refused_and_never_written_back(kr, sandbox):
    user = _member()
    client = _client(user, language="en")

    response = client.post("/wallet/methods/", {"kind": "card", "label": "", "last4": "4111111111111111"})

    assert response.status_code == 400
    assert "4111111111111111" not in response.content.decode()
    assert PaymentMethod.objects.count() == 0


def test_invalid_method_input_is_shown_at_its_fields(kr, sandbox):
    user = _member()
    client = _client(user, language="en")

    response = client.post("/wallet/methods/", {"kind": "cheque", "label": "", "last4": "12a4"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose card or bank account." in html
    assert "Give a name of 1 to 40 characters." in html
    assert "Enter exactly four digits." in html
    assert PaymentMethod.objects.count() == 0


def test_a_method_the_provider_declines_is_not_saved(kr, sandbox):
    user = _member()
    client = _client(user, language="en")

    response = client.post("/wallet/methods/", {"kind": "card", "label": "Stolen", "last4": "0002"})

    assert response.status_code == 422
    assert "The payment provider did not approve this payment method" in response.content.decode()
    assert 'value="Stolen"' in response.content.decode()
    assert PaymentMethod.objects.count() == 0


def test_a_member_removes_their_method(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user, language="en")

    response = client.post(f"/wallet/methods/{method.public_id}/remove")

    assert response.status_code == 302 and response["Location"] == "/wallet/methods/"
    method.refresh_from_db()
    assert method.status == PaymentMethod.Status.REMOVED
    page = client.get("/wallet/methods/").content.decode()
    assert "“KB국민 ****1234” was removed." in page
    assert 'id="no-methods"' in page


def test_a_member_cannot_remove_another_members_method(kr, sandbox):
    owner = _member()
    theirs = method_for(owner, kr)
    client = _client(_member(), language="en")

    response = client.post(f"/wallet/methods/{theirs.public_id}/remove")

    assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.status == PaymentMethod.Status.ACTIVE and theirs.removed_at is None
    page = client.get("/wallet/methods/").content.decode()
    assert "There is no payment method" in page


def test_remove_needs_a_post(kr, sandbox):
    user = _member()
    method = method_for(user, kr)
    client = _client(user)

    response = client.get(f"/wallet/methods/{method.public_id}/remove")

    assert response.status_code == 405
    method.refresh_from_db()
    assert method.status == PaymentMethod.Status.ACTIVE


def test_methods_of_another_market_are_not_offered(kr, us, sandbox):
    user = _member()
    method_for(user, us, label="My Visa", last4="4242")
    client = _client(user)

    html = client.get("/wallet/").content.decode()

    assert "My Visa" not in html
    assert 'id="no-methods"' in html


def test_a_top_up_above_the_daily_limit_says_what_is_left_today(kr, sandbox):
    Market.objects.filter(code="KR").update(wallet_top_up_limit=50_000, wallet_top_up_daily_limit=60_000)
    markets_cache_clear()
    user = _member()
    method = method_for(user, kr)
    client = _client(user, language="en")
    assert _top_up(client, method, "50000").status_code == 302

    response = _top_up(client, method, "20000")

    assert response.status_code == 422
    assert "You can top up at most ₩60,000 a day; ₩10,000 is left today." in response.content.decode()
    wallet = _wallet(user, kr)
    assert wallet is not None and wallet.balance == 50_000
    assert list(sandbox.stats()["charges_applied"].values()) == [1]


def _queries_for_wallet_page(client: Client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/wallet/").status_code == 200
    return len(captured)


def test_the_wallet_page_reads_the_same_queries_for_one_entry_or_twenty(
    kr, sandbox, django_assert_num_queries
):
    one, many = _member(), _member()
    for user, count in ((one, 1), (many, 20)):
        method_for(user, kr)
        for _ in range(count):
            funded_wallet(user, kr, 100)
    one_client, many_client = _client(one), _client(many)
    _queries_for_wallet_page(one_client)  # warm: the session, the markets

    with django_assert_num_queries(QUERIES_WALLET_PAGE):
        assert one_client.get("/wallet/").status_code == 200
    _queries_for_wallet_page(many_client)
    with django_assert_num_queries(QUERIES_WALLET_PAGE):
        assert many_client.get("/wallet/").status_code == 200
