"""The storefront side of orders (issue 20, Deliver 8): /checkout/, the confirmation, the order
history, an order's detail (pay now, cancel, timeline) and the KR e-receipt, through the
Django test client; wallet payments only (no provider needed), a saved method against the
sandbox provider."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.carts import selectors as cart_selectors
from apps.carts import services as cart_services
from apps.markets.models import Market
from apps.markets.services import markets_cache_clear
from apps.orders import services
from apps.orders.models import Order, OrderPayment
from apps.payments.models import Wallet, WalletEntry
from tests.carts.factories import stocked
from tests.payments.conftest import sandbox  # noqa: F401  (the fixture, for this module)
from tests.payments.factories import MemberFactory, funded_wallet, ledger_sum, method_for, staff

pytestmark = pytest.mark.django_db

ADDRESS = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "line2": "3층",
    "city": "서울",
    "region": "",
    "postal_code": "04524",
    "country": "KR",
}


@pytest.fixture
def kr(db) -> Market:
    # the seeded KR rules, pinned here: VAT 10 % included, ₩3,000 shipping under ₩19,800
    Market.objects.filter(code="KR").update(
        shipping_fee=3000, free_shipping_threshold=19800, tax_rate="0.1000", tax_mode="inclusive"
    )
    Market.objects.filter(code="US").update(
        shipping_fee=599, free_shipping_threshold=3500, tax_rate="0.0800", tax_mode="exclusive"
    )
    markets_cache_clear()
    return Market.objects.get(code="KR")


@pytest.fixture
def us(kr) -> Market:
    return Market.objects.get(code="US")


def _member(market: str = "KR", **kw) -> User:
    return MemberFactory(
        email=f"orders.{uuid.uuid4().hex[:8]}@example.test",
        locale="ko" if market == "KR" else "en",
        market_id=market,
        **kw,
    )


def _client(user: User, *, language: str = "ko", market: str = "KR") -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["joopang_lang"] = language
    client.cookies["joopang_market"] = market
    return client


def _in_cart(user: User, market: Market, sku: str, quantity: int = 1) -> None:
    cart = cart_services.member_cart_get_or_create(user=user, market=market)
    cart_services.cart_item_add(cart=cart, sku_code=sku, quantity=quantity, market=market)


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([0-9a-f-]{{36}})"', html)
    assert match, f"the form carries {name}"
    return match.group(1)


def _checkout_data(html: str, payment: str = "wallet", **extra: str) -> dict[str, str]:
    return {
        **ADDRESS,
        "order_key": _hidden(html, "order_key"),
        "pay_key": _hidden(html, "pay_key"),
        "payment": payment,
        **extra,
    }


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)<', html, re.S)
    assert match, element_id
    return match.group(1).strip()


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/checkout/", "/orders/"])
def test_a_guest_is_sent_to_sign_in_and_back(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_a_staff_account_cannot_check_out(kr):
    response = _client(staff("ops_admin")).get("/checkout/")

    assert response.status_code == 403


def test_an_empty_cart_goes_back_to_the_cart(kr):
    response = _client(_member()).get("/checkout/")

    assert response.status_code == 302
    assert response["Location"] == "/cart/"


def test_the_cart_page_links_to_checkout_and_the_header_to_my_orders(kr):
    user = _member()
    _, sku = stocked(kr=12900)
    _in_cart(user, kr, sku)

    html = _client(user).get("/cart/").content.decode()

    assert 'id="checkout-button"' in html and 'href="/checkout/"' in html
    assert 'id="orders-link"' in html and 'href="/orders/"' in html


# --- checkout page --------------------------------------------------------------------------


def test_checkout_shows_the_cart_the_default_address_and_totals_that_match_the_cart(kr):
    user = _member(default_address=ADDRESS)
    funded_wallet(user, kr, 5_000)
    _, sku = stocked(kr=12900, name_ko="제주 감귤 3kg", name_en="Jeju Tangerines 3 kg")
    _in_cart(user, kr, sku)
    totals = cart_selectors.cart_totals(
        view=cart_selectors.cart_get(cart=cart_selectors.member_cart_get(user_id=user.pk), market=kr)
    )

    response = _client(user).get("/checkout/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "제주 감귤 3kg" in html
    assert _text(html, "total-subtotal") == "₩12,900"
    assert _text(html, "total-shipping") == "₩3,000"
    assert _text(html, "total-tax") == f"₩{totals.estimated_tax.amount:,}" == "₩1,173"
    assert _text(html, "total-total") == f"₩{totals.total.amount:,}" == "₩15,900"
    assert 'value="세종대로 110"' in html and 'value="04524"' in html
    # ₩5,000 in the wallet: short by ₩10,900, with the way to top up
    assert "₩10,900" in _text(html, "wallet-short")
    assert 'id="wallet-top-up"' in html
    assert "₩15,900" in _text(html, "pay-button")


def test_checkout_in_the_us_adds_tax(us):
    user = _member("US")
    _, sku = stocked(us=999)
    _in_cart(user, us, sku)

    html = _client(user, language="en", market="US").get("/checkout/").content.decode()

    assert '<html lang="en">' in html
    assert ">Tax<" in html and "VAT included" not in html
    assert _text(html, "total-tax") == "$0.80"
    assert _text(html, "total-total") == "$16.78"


# --- paying by wallet -----------------------------------------------------------------------


def test_a_wallet_checkout_creates_one_paid_order_even_when_the_form_is_sent_twice(kr):
    user = _member()
    wallet = funded_wallet(user, kr, 100_000)
    _, sku = stocked(kr=12900, stock={"KR": 5})
    _in_cart(user, kr, sku, 2)
    client = _client(user)
    data = _checkout_data(client.get("/checkout/").content.decode())

    first = client.post("/checkout/", data)
    second = client.post("/checkout/", data)

    order = Order.objects.get(user=user)
    assert order.status == Order.Status.PAID
    assert order.total == 25_800  # free shipping from ₩19,800, VAT included
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/orders/{order.public_id}/complete/"
    wallet.refresh_from_db()
    assert wallet.balance == 100_000 - 25_800 == ledger_sum(wallet)
    assert WalletEntry.objects.filter(wallet=wallet, kind=WalletEntry.Kind.PAYMENT).count() == 1
    assert OrderPayment.objects.filter(order=order).count() == 1
    assert order.shipping_address == {**ADDRESS}
    assert cart_selectors.cart_count(cart=cart_selectors.member_cart_get(user_id=user.pk)) == 0

    html = client.get(first["Location"]).content.decode()
    assert _text(html, "order-number") == order.number
    assert _text(html, "order-total") == "₩25,800"
    assert 'data-status="paid"' in html


def test_save_as_default_address_updates_the_profile(kr):
    user = _member()
    funded_wallet(user, kr, 100_000)
    _, sku = stocked(kr=12900)
    _in_cart(user, kr, sku)
    client = _client(user)

    client.post("/checkout/", _checkout_data(client.get("/checkout/").content.decode(), save_default="on"))

    user.refresh_from_db()
    assert user.default_address == ADDRESS


def test_an_address_without_a_city_is_refused_and_nothing_is_ordered(kr):
    user = _member()
    wallet = funded_wallet(user, kr, 100_000)
    _, sku = stocked(kr=12900)
    _in_cart(user, kr, sku)
    client = _client(user)
    data = _checkout_data(client.get("/checkout/").content.decode(), city="")

    response = client.post("/checkout/", data)

    assert response.status_code == 400
    assert 'id="id_city_error"' in response.content.decode()
    assert Order.objects.count() == 0
    wallet.refresh_from_db()
    assert wallet.balance == 100_000
    assert cart_selectors.cart_count(cart=cart_selectors.member_cart_get(user_id=user.pk)) == 1


def test_stock_gone_before_paying_goes_back_to_the_cart_with_the_reason(kr):
    user = _member()
    funded_wallet(user, kr, 100_000)
    _, sku = stocked(kr=12900, stock={"KR": 1})
    _in_cart(user, kr, sku)
    client = _client(user)
    data = _checkout_data(client.get("/checkout/").content.decode())
    other = _member()
    services.order_place(
        user=other,
        market=kr,
        idempotency_key="other",
        items=[{"sku": sku, "quantity": 1}],
        shipping_address=ADDRESS,
    )

    response = client.post("/checkout/", data, follow=True)

    assert response.redirect_chain == [("/cart/", 302)]
    assert 'class="message error"' in response.content.decode()
    assert Order.objects.filter(user=user).count() == 0


def test_a_short_balance_leaves_the_order_pending_and_pay_now_works_after_a_top_up(kr):
    user = _member()
    wallet = funded_wallet(user, kr, 10_000)
    _, sku = stocked(kr=12900)
    _in_cart(user, kr, sku)
    client = _client(user)

    response = client.post(
        "/checkout/", _checkout_data(client.get("/checkout/").content.decode()), follow=True
    )

    order = Order.objects.get(user=user)
    assert order.status == Order.Status.PENDING
    assert response.redirect_chain == [(f"/orders/{order.public_id}/", 302)]
    html = response.content.decode()
    assert 'class="message error"' in html and "₩15,900" in html  # the wallet error names the amount
    assert 'id="pay-now"' in html and 'id="wallet-short"' in html
    wallet.refresh_from_db()
    assert wallet.balance == 10_000 == ledger_sum(wallet)

    funded_wallet(user, kr, 10_000)
    page = client.get(f"/orders/{order.public_id}/").content.decode()
    assert 'id="wallet-short"' not in page
    paid = client.post(
        f"/orders/{order.public_id}/pay", {"payment": "wallet", "pay_key": _hidden(page, "pay_key")}
    )

    assert paid.status_code == 302 and paid["Location"] == f"/orders/{order.public_id}/complete/"
    order.refresh_from_db()
    wallet.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert wallet.balance == 20_000 - 15_900 == ledger_sum(wallet)


def test_paying_with_a_saved_method(kr, sandbox):  # noqa: F811
    user = _member()
    method = method_for(user, kr)
    _, sku = stocked(kr=12900)
    _in_cart(user, kr, sku)
    client = _client(user)
    html = client.get("/checkout/").content.decode()
    assert f'value="{method.public_id}"' in html and "checked" in html.split(str(method.public_id))[1][:40]

    response = client.post("/checkout/", _checkout_data(html, payment=str(method.public_id)))

    order = Order.objects.get(user=user)
    assert response["Location"] == f"/orders/{order.public_id}/complete/"
    assert order.status == Order.Status.PAID
    payment = OrderPayment.objects.get(order=order)
    assert (payment.method, payment.status, payment.amount) == ("payment_method", "captured", 15_900)
    assert Wallet.objects.filter(user=user).count() == 0


# --- detail, cancel, history ---------------------------------------------------------------


def _paid_order(user: User, market: Market, sku: str, key: str = "k1") -> Order:
    order = services.order_place(
        user=user,
        market=market,
        idempotency_key=key,
        items=[{"sku": sku, "quantity": 1}],
        shipping_address=ADDRESS,
    ).order
    services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key=f"pay-{key}")
    order.refresh_from_db()
    return order


def test_the_detail_page_shows_the_lines_address_payment_and_the_timeline(kr):
    user = _member()
    funded_wallet(user, kr, 100_000)
    _, sku = stocked(kr=12900, name_ko="제주 감귤 3kg", name_en="Jeju Tangerines 3 kg")
    order = _paid_order(user, kr, sku)

    html = _client(user).get(f"/orders/{order.public_id}/").content.decode()

    assert "제주 감귤 3kg" in html and "세종대로 110" in html
    assert _text(html, "order-total") == "₩15,900"
    assert re.findall(r'class="timeline-step" data-status="(\w+)"', html) == ["pending", "paid"]
    assert re.search(r"\d{4}\. \d{1,2}\. \d{1,2}\. (오전|오후) \d{1,2}:\d\d", html)
    assert 'id="cancel-button"' in html and 'id="pay-now"' not in html
    assert f'href="/orders/{order.public_id}/receipt/"' in html


def test_cancelling_a_paid_order_from_the_detail_page_refunds_the_wallet(kr):
    user = _member()
    wallet = funded_wallet(user, kr, 100_000)
    _, sku = stocked(kr=12900)
    order = _paid_order(user, kr, sku)
    client = _client(user)

    response = client.post(f"/orders/{order.public_id}/cancel", {"reason": "마음이 바뀌었어요"}, follow=True)

    order.refresh_from_db()
    wallet.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert wallet.balance == 100_000 == ledger_sum(wallet)
    html = response.content.decode()
    assert 'class="message success"' in html and "₩15,900" in html
    assert re.findall(r'class="timeline-step" data-status="(\w+)"', html) == ["pending", "paid", "cancelled"]
    assert "마음이 바뀌었어요" in html
    assert 'id="cancel-button"' not in html
    assert 'id="refunds"' in html


def test_cancelling_twice_refunds_once(kr):
    user = _member()
    wallet = funded_wallet(user, kr, 100_000)
    _, sku = stocked(kr=12900)
    order = _paid_order(user, kr, sku)
    client = _client(user)
    client.post(f"/orders/{order.public_id}/cancel", {"reason": ""})

    response = client.post(f"/orders/{order.public_id}/cancel", {"reason": ""}, follow=True)

    assert 'class="message error"' in response.content.decode()
    wallet.refresh_from_db()
    assert wallet.balance == 100_000
    assert WalletEntry.objects.filter(wallet=wallet, kind=WalletEntry.Kind.REFUND).count() == 1


def test_another_members_order_is_not_found(kr):
    owner = _member()
    funded_wallet(owner, kr, 100_000)
    _, sku = stocked(kr=12900)
    order = _paid_order(owner, kr, sku)
    client = _client(_member())

    for path in ("/", "/complete/", "/receipt/"):
        assert client.get(f"/orders/{order.public_id}{path}").status_code == 404
    assert client.post(f"/orders/{order.public_id}/cancel", {"reason": ""}).status_code == 404
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_the_history_lists_only_my_orders_newest_first(kr):
    user = _member()
    funded_wallet(user, kr, 100_000)
    _, sku1 = stocked(kr=12900, name_ko="감귤", name_en="Tangerines")
    _, sku2 = stocked(kr=3300, name_ko="생수", name_en="Water")
    older = _paid_order(user, kr, sku1, "a")
    newer = services.order_place(
        user=user,
        market=kr,
        idempotency_key="b",
        items=[{"sku": sku2, "quantity": 1}, {"sku": sku1, "quantity": 1}],
        shipping_address=ADDRESS,
    ).order
    someone = _member()
    funded_wallet(someone, kr, 100_000)
    theirs = _paid_order(someone, kr, sku1, "c")

    html = _client(user).get("/orders/").content.decode()

    assert re.findall(r'class="order-row" data-number="([^"]+)"', html) == [newer.number, older.number]
    assert theirs.number not in html
    assert re.search(r"생수\s+외 1건", html)  # "+1 more" in Korean


def test_the_history_paginates(kr):
    user = _member()
    _, sku = stocked(kr=1000)
    for i in range(11):
        services.order_place(
            user=user,
            market=kr,
            idempotency_key=f"k{i}",
            items=[{"sku": sku, "quantity": 1}],
            shipping_address=ADDRESS,
        )
    client = _client(user)

    first = client.get("/orders/").content.decode()
    second = client.get("/orders/?page=2").content.decode()

    assert first.count('class="order-row"') == 10 and 'rel="next"' in first
    assert second.count('class="order-row"') == 1 and 'rel="prev"' in second


# --- e-receipt ------------------------------------------------------------------------------


def test_the_kr_receipt_shows_the_vat_breakdown(kr):
    user = _member(name="김민지")
    funded_wallet(user, kr, 100_000)
    _, sku = stocked(kr=12900)
    order = _paid_order(user, kr, sku)

    response = _client(user).get(f"/orders/{order.public_id}/receipt/")
    html = response.content.decode()

    assert response.status_code == 200
    assert _text(html, "receipt-number") == f"R-{order.number}"
    assert _text(html, "receipt-total") == "₩15,900"
    assert _text(html, "receipt-vat") == "₩1,445"  # 15,900 × 10/110, half up
    assert _text(html, "receipt-supply") == "₩14,455"
    assert _text(html, "receipt-buyer") == "김민지"
    assert "주식회사 주팡" in html


def test_an_unpaid_order_and_a_us_order_have_no_receipt(us):
    kr = Market.objects.get(code="KR")
    user = _member("US")
    funded_wallet(user, us, 100_000)
    _, sku = stocked(kr=12900, us=999)
    us_order = _paid_order(user, us, sku)
    pending = services.order_place(
        user=user,
        market=kr,
        idempotency_key="kr",
        items=[{"sku": sku, "quantity": 1}],
        shipping_address=ADDRESS,
    ).order
    client = _client(user, language="en", market="US")

    assert client.get(f"/orders/{us_order.public_id}/receipt/").status_code == 404
    assert client.get(f"/orders/{pending.public_id}/receipt/").status_code == 404
    assert 'id="receipt-link"' not in client.get(f"/orders/{us_order.public_id}/").content.decode()
