"""Storefront cart pages (issue 18, Deliver 4): the cookie, adding from product pages and
cards, changing and removing lines by plain forms, errors at the line in the shopper's
language, CSRF, the header's count and the empty cart."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.carts.models import Cart, CartLine
from apps.carts.web import COOKIE_NAME
from apps.markets.models import Market
from apps.markets.services import markets_cache_clear
from tests.accounts.factories import MemberFactory
from tests.carts.factories import stocked
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _shipping(code: str, fee: int, threshold: int) -> None:
    Market.objects.filter(code=code).update(shipping_fee=fee, free_shipping_threshold=threshold)
    markets_cache_clear()


def _client(language: str = "ko", market: str = "KR") -> Client:
    client = Client()
    client.cookies["joopang_lang"] = language
    client.cookies["joopang_market"] = market
    return client


def _add(client: Client, sku: str, quantity: str = "1", **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/cart/add", {"sku": sku, "quantity": quantity, **extra})


def test_browsing_makes_no_cart_and_sets_no_cookie(db):
    product, _sku = stocked(kr=10000)
    client = _client()
    for path in ("/", f"/p/{product.pk}/{product.slug}/", "/cart/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert COOKIE_NAME not in response.cookies, path
    assert Cart.objects.count() == 0


def test_the_first_add_sets_an_httponly_lax_cookie_for_the_guest_ttl(db, settings):
    settings.CART_GUEST_TTL_DAYS = 14
    _product, sku = stocked(kr=10000)
    client = _client()
    response = _add(client, sku, "2")
    assert response.status_code == 302
    assert response["Location"] == "/cart/"
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 14 * 86400
    assert not cookie["secure"]  # Secure follows SESSION_COOKIE_SECURE (on in production)
    assert CartLine.objects.get().quantity == 2
    # a second add reuses the cart: no new cookie
    again = _add(client, sku, "1")
    assert COOKIE_NAME not in again.cookies
    assert CartLine.objects.get().quantity == 3


def test_the_cookie_is_secure_when_session_cookies_are(db, settings):
    settings.SESSION_COOKIE_SECURE = True
    _product, sku = stocked(kr=10000)
    response = _add(_client(), sku)
    assert response.cookies[COOKIE_NAME]["secure"] is True


def test_cart_page_shows_lines_totals_and_free_shipping_hint_in_korean(db):
    _shipping("KR", 3000, 30000)
    product, sku = stocked(kr=12000, name_ko="제주 감귤", name_en="Jeju Tangerines")
    client = _client()
    _add(client, sku, "2")
    html = client.get("/cart/").content.decode()
    assert "제주 감귤" in html
    assert '<dd id="total-subtotal">₩24,000</dd>' in html
    assert '<dd id="total-shipping">₩3,000</dd>' in html
    assert '<dt>부가세 포함</dt><dd id="total-tax">₩2,182</dd>' in html  # 24,000 x 10/110, rounded
    assert '<dd id="total-total">₩27,000</dd>' in html
    assert "₩6,000 더 담으면 무료배송" in html
    # one more unit (₩36,000) crosses the ₩30,000 threshold: free shipping
    client.post(f"/cart/items/{sku}/update", {"quantity": "2", "step": "1"})
    html = client.get("/cart/").content.decode()
    assert '<dd id="total-shipping">무료</dd>' in html
    assert "무료배송으로 받을 수 있습니다." in html
    assert "aria-label" not in html.split('id="qty-1"')[0][-50:]  # the box has a <label for>
    assert '<label for="qty-1"' in html
    assert f'href="/p/{product.pk}/{product.slug}/?sku={sku}"' in html


def test_cart_page_in_english_in_the_us_adds_estimated_tax(db):
    _shipping("US", 599, 3500)
    _product, sku = stocked(kr=12000, us=1999, name_en="Jeju Tangerines")
    client = _client("en", "US")
    _add(client, sku, "1")
    html = client.get("/cart/").content.decode()
    assert "Jeju Tangerines" in html
    assert "$19.99" in html
    assert "Estimated tax" in html
    assert "$15.01 more for free shipping" in html
    assert '<dd id="total-shipping">$5.99</dd>' in html


def test_plain_forms_change_and_remove_a_line(db):
    _product, sku = stocked(kr=10000)
    client = _client()
    _add(client, sku, "1")
    response = client.post(f"/cart/items/{sku}/update", {"quantity": "1", "step": "1"})
    assert response.status_code == 302 and response["Location"] == "/cart/"
    assert CartLine.objects.get().quantity == 2
    client.post(f"/cart/items/{sku}/update", {"quantity": "5"})
    assert CartLine.objects.get().quantity == 5
    client.post(f"/cart/items/{sku}/update", {"quantity": "5", "step": "-1"})
    assert CartLine.objects.get().quantity == 4
    response = client.post(f"/cart/items/{sku}/remove")
    assert response.status_code == 302
    assert CartLine.objects.count() == 0
    html = client.get("/cart/").content.decode()
    assert "장바구니가 비어 있습니다" in html
    assert 'href="/"' in html


@pytest.mark.parametrize(
    ("quantity", "status", "ko", "en"),
    [
        ("abc", 400, "1 이상의 정수를 입력하세요.", "Enter a whole number of at least 1."),
        ("0", 400, "1 이상의 정수를 입력하세요.", "Enter a whole number of at least 1."),
        (
            "4",
            422,
            "이 상품은 한 번에 최대 3개까지 살 수 있습니다.",
            "You can buy at most 3 of this item per order.",
        ),
    ],
)
def test_a_refused_change_is_shown_at_its_line_localized(db, quantity, status, ko, en):
    _product, sku = stocked(kr=10000, max_per_order=3)
    for language, text in (("ko", ko), ("en", en)):
        client = _client(language)
        _add(client, sku, "1")
        response = client.post(f"/cart/items/{sku}/update", {"quantity": quantity})
        assert response.status_code == status
        html = response.content.decode()
        line = html[html.index('data-sku="' + sku) :]
        assert text in line[: line.index("</li>")]
        assert 'aria-invalid="true"' in line[: line.index("</li>")]


def test_insufficient_stock_names_the_available_quantity(db):
    _product, sku = stocked(kr=10000, stock={"KR": 3})
    client = _client()
    _add(client, sku, "1")
    response = client.post(f"/cart/items/{sku}/update", {"quantity": "7"})
    assert response.status_code == 409
    assert "재고가 3개 남았습니다" in response.content.decode()
    assert CartLine.objects.get().quantity == 1  # nothing changed
    en = _client("en")
    _add(en, sku, "1")
    assert "Only 3 left in stock" in en.post(f"/cart/items/{sku}/update", {"quantity": "7"}).content.decode()


def test_a_refused_add_comes_back_with_a_message_and_no_cart(db):
    product, sku = stocked(kr=10000, stock={"KR": 2})
    client = _client()
    back = f"/p/{product.pk}/{product.slug}/"
    response = client.post("/cart/add", {"sku": sku, "quantity": "5", "next": back}, follow=True)
    assert response.redirect_chain[0] == (back, 302)
    assert "재고가 2개 남았습니다" in response.content.decode()
    assert CartLine.objects.count() == 0


def test_unknown_sku_is_unavailable_and_next_must_be_local(db):
    client = _client("en")
    response = client.post("/cart/add", {"sku": "NOPE-1", "quantity": "1", "next": "https://evil.test/"})
    assert response["Location"] == "/cart/"
    assert "This item is not sold in this market." in client.get("/cart/").content.decode()


def test_too_many_lines(db, settings):
    settings.CART_MAX_LINES = 1
    _p1, first = stocked(kr=10000)
    _p2, second = stocked(kr=10000)
    client = _client("en")
    _add(client, first)
    response = client.post("/cart/add", {"sku": second, "quantity": "1"}, follow=True)
    assert "A cart holds at most 1 different items." in response.content.decode()
    assert CartLine.objects.count() == 1


def test_a_card_adds_a_one_option_product_and_sends_a_multi_option_one_to_its_page(db):
    single, sku = stocked(kr=10000)
    multi = ProductFactory(kr=20000, skus=2)
    client = _client()
    response = client.post("/cart/add", {"product": str(single.pk), "quantity": "1"})
    assert response["Location"] == "/cart/"
    assert CartLine.objects.get().sku.code == sku
    response = client.post("/cart/add", {"product": str(multi.pk), "quantity": "1"})
    assert response["Location"] == f"/p/{multi.pk}/"
    assert CartLine.objects.count() == 1


def test_forms_require_csrf(db):
    _product, sku = stocked(kr=10000)
    client = Client(enforce_csrf_checks=True)
    assert client.post("/cart/add", {"sku": sku, "quantity": "1"}).status_code == 403
    assert client.post(f"/cart/items/{sku}/update", {"quantity": "1"}).status_code == 403
    assert client.post(f"/cart/items/{sku}/remove").status_code == 403
    assert Cart.objects.count() == 0


def test_header_count_costs_no_query_for_a_guest_without_a_cookie(db, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    from apps.storefront.context_processors import _cart_count

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert _cart_count(request)() == 0


def test_header_shows_the_count_for_guests_and_members(db):
    _product, sku = stocked(kr=10000)
    client = _client("en")
    html = client.get("/").content.decode()
    assert 'href="/cart/"' in html and "Cart, 0 items" in html
    _add(client, sku, "3")
    html = client.get("/").content.decode()
    assert '<span class="cart-count" aria-hidden="true">3</span>' in html
    assert "Cart, 3 items" in html
    member = MemberFactory(locale="ko", market_id="KR")
    signed = _client()
    signed.force_login(member)
    signed.post("/cart/add", {"sku": sku, "quantity": "2"})
    assert "장바구니 상품 2개" in signed.get("/").content.decode()
    assert signed.get("/cart/").status_code == 200


def test_lines_not_sold_in_the_current_market_are_flagged(db):
    _product, sku = stocked(kr=10000, us=None, stock={"KR": 50})
    client = _client("en", "KR")
    _add(client, sku)
    client.cookies["joopang_market"] = "US"
    html = client.get("/cart/").content.decode()
    assert "Not sold in this market: left out of the total." in html
    assert "Not counted" in html


def test_a_staff_account_has_no_cart(db):
    from tests.accounts.factories import staff

    _product, sku = stocked(kr=10000)
    client = _client("en")
    client.force_login(staff("cs_agent"))
    response = client.post("/cart/add", {"sku": sku, "quantity": "1"}, follow=True)
    html = response.content.decode()
    assert "This account cannot shop." in html or "이 계정으로는 쇼핑할 수 없습니다." in html
    assert Cart.objects.count() == 0


def test_after_login_the_merged_guest_cookie_is_dropped_by_the_cart_page(db):
    _product, sku = stocked(kr=10000)
    client = _client("en")
    _add(client, sku, "2")
    member = MemberFactory(locale="en", market_id="KR")
    client.force_login(member)  # (the storefront sign-in runs the merge hook; here the cart page alone)
    response = client.get("/cart/")
    assert response.cookies[COOKIE_NAME].value == ""
    assert response.cookies[COOKIE_NAME]["max-age"] == 0
