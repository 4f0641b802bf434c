"""Read caching (apps/catalog/readcache.py): a cached list, product, search or page never
shows a price, a sale or a stock status that is no longer true, keeps markets and
languages apart, and never hands one shopper's header or token to another."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from apps.carts import services as carts_services
from apps.catalog import readcache, services
from apps.core import clock
from apps.inventory import services as inventory_services
from apps.markets.selectors import market_get
from tests.accounts.factories import MemberFactory
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def _stock(product, qty, warehouse_code="KR-A", market="KR"):
    wh = WarehouseFactory(code=warehouse_code, market_id=market)
    for sku in product.skus.all():
        StockLevelFactory(sku=sku, warehouse=wh, on_hand=qty, reserved=0)


def _shown(client, path, product_id, **headers):
    """The product as ``path`` shows it: a detail payload, or its row of a list."""
    body = client.get(path, **headers).json()
    return next(row for row in body["results"] if row["id"] == product_id) if "results" in body else body


@pytest.fixture
def shoes():
    return CategoryFactory(slug="shoes", name_ko="신발", name_en="Shoes")


@pytest.fixture
def product(shoes):
    p = ProductFactory(category=shoes, name_ko="운동화", name_en="Sneaker", kr=10000, us=1000)
    _stock(p, 20)
    _stock(p, 20, warehouse_code="US-A", market="US")
    return p


LIST = "/api/v1/products?category=shoes"
SEARCH = "/api/v1/products?q=sneaker"


def _detail(product):
    return f"/api/v1/products/{product.pk}"


def test_a_repeated_read_is_served_from_the_cache_with_fresh_stock_only(
    api_client, product, django_assert_num_queries
):
    # given a list, a search and a product read once (cached)
    for path in (LIST, SEARCH, _detail(product)):
        api_client.get(path)
    # when read again / then: one query each, the stock of what it shows
    for path in (LIST, SEARCH, _detail(product)):
        with django_assert_num_queries(1):
            assert api_client.get(path).status_code == 200


@pytest.mark.parametrize("path", [LIST, SEARCH, "detail"])
def test_a_price_change_shows_on_the_next_read(api_client, product, path):
    path = _detail(product) if path == "detail" else path
    # given the price read twice (the second from the cache)
    assert _shown(api_client, path, product.pk)["price"]["amount"] == 10000
    assert _shown(api_client, path, product.pk)["price"]["amount"] == 10000
    # when staff change it
    services.market_price_set(sku=product.skus.get(), market=market_get("KR"), list_price=8000)
    # then the next read shows it
    assert _shown(api_client, path, product.pk)["price"]["amount"] == 8000


@pytest.mark.parametrize("path", [LIST, "detail"])
def test_a_sale_is_not_shown_after_its_end(api_client, shoes, monkeypatch, settings, path):
    settings.CATALOG_READ_CACHE_SECONDS = 3 * 3600  # the sale's end, not the TTL, must end it
    # given a sale ending in an hour, read and cached while it runs
    ends = clock.now() + dt.timedelta(hours=1)
    p = ProductFactory(category=shoes, kr=10000, kr_sale=7000, sale_ends_at=ends)
    path = f"/api/v1/products/{p.pk}" if path == "detail" else path

    def shown():
        return _shown(api_client, path, p.pk)

    assert shown()["price"]["amount"] == 7000
    assert shown()["sale"]["ends_at"]  # cached
    # when the sale's end passes (nothing was written: no version bump)
    later = ends + dt.timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    # then the list price is back and no sale is shown
    assert shown()["price"]["amount"] == 10000
    assert shown()["sale"] is None


def test_a_sale_end_moved_earlier_shows_on_the_next_read(api_client, shoes):
    ends = clock.now() + dt.timedelta(days=2)
    p = ProductFactory(category=shoes, kr=10000, kr_sale=7000, sale_ends_at=ends)
    assert api_client.get(f"/api/v1/products/{p.pk}").json()["sale"]["ends_at"]
    sooner = clock.now() + dt.timedelta(hours=3)
    services.market_price_set(
        sku=p.skus.get(), market=market_get("KR"), list_price=10000, sale_price=7000, sale_ends_at=sooner
    )
    shown = api_client.get(f"/api/v1/products/{p.pk}").json()["sale"]["ends_at"]
    assert dt.datetime.fromisoformat(shown.replace("Z", "+00:00")) == sooner


@pytest.mark.parametrize("path", [LIST, SEARCH, "detail"])
def test_stock_reserved_away_is_sold_out_on_the_next_read(api_client, product, path):
    path = _detail(product) if path == "detail" else path

    def shown():
        return _shown(api_client, path, product.pk)

    assert shown()["stock_status"] == "in_stock"
    assert shown()["stock_status"] == "in_stock"  # cached
    # when every unit is reserved (no catalog write: no version bump)
    sku = product.skus.get()
    inventory_services.reservation_create(owner="order:1", lines=[(sku.code, 17)], market=market_get("KR"))
    assert shown()["stock_status"] == "low"
    inventory_services.reservation_create(owner="order:2", lines=[(sku.code, 3)], market=market_get("KR"))
    # then
    assert shown()["stock_status"] == "sold_out"
    assert shown()["in_stock"] is False
    if "skus" in shown():
        assert shown()["skus"][0]["available_quantity"] == 0


def test_markets_and_languages_are_cached_apart(api_client, product):
    for market, language, currency, name in [
        ("KR", "ko", "KRW", "운동화"),
        ("KR", "en", "KRW", "Sneaker"),
        ("US", "en", "USD", "Sneaker"),
        ("US", "ko", "USD", "운동화"),
    ]:
        headers = {"HTTP_X_MARKET": market, "HTTP_ACCEPT_LANGUAGE": language}
        for path in (LIST, _detail(product)):
            for _ in range(2):  # the second read is the cached one
                body = api_client.get(path, **headers).json()
                shown = body if "results" not in body else body["results"][0]
                assert (shown["name"], shown["price"]["currency"]) == (name, currency)


def test_a_product_switched_off_is_gone_on_the_next_read(api_client, product):
    assert api_client.get(_detail(product)).status_code == 200
    assert _shown(api_client, LIST, product.pk)
    services.product_update(product=product, is_active=False)
    assert api_client.get(_detail(product)).status_code == 404
    assert api_client.get(LIST).json()["results"] == []


def test_a_products_rows_read_for_one_market_and_language_serve_the_others(api_client, product):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # given the product's detail read once, in KR and Korean (its rows are cached per product)
    assert api_client.get(_detail(product), HTTP_X_MARKET="KR", HTTP_ACCEPT_LANGUAGE="ko").status_code == 200
    # when it is read in the US and English: a new URL entry, but the same product rows
    with CaptureQueriesContext(connection) as captured:
        body = api_client.get(_detail(product), HTTP_X_MARKET="US", HTTP_ACCEPT_LANGUAGE="en").json()
    # then no catalog table is read again (the stock and the US campaigns' badges are)...
    assert [q["sql"] for q in captured.captured_queries if '"catalog_' in q["sql"]] == []
    assert any('"inventory_stocklevel"' in q["sql"] for q in captured.captured_queries)
    # ...and it is priced and named for that market and language
    assert (body["name"], body["price"]["currency"], body["price"]["amount"]) == ("Sneaker", "USD", 1000)


def test_a_sale_starting_while_a_products_rows_are_cached_shows_at_its_start(
    api_client, product, monkeypatch, settings
):
    settings.CATALOG_READ_CACHE_SECONDS = 3 * 3600  # the sale's start, not the TTL, must show it
    starts = clock.now() + dt.timedelta(hours=1)
    services.market_price_set(
        sku=product.skus.get(),
        market=market_get("KR"),
        list_price=10000,
        sale_price=6000,
        sale_starts_at=starts,
    )
    # given the product read (and its rows cached) before the sale
    assert api_client.get(_detail(product)).json()["price"]["amount"] == 10000
    # when the start passes, with nothing written since
    later = starts + dt.timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    # then the detail and the page show the sale price, worked out from the cached rows
    assert api_client.get(_detail(product)).json()["price"]["amount"] == 6000
    assert "₩6,000" in _page(Client(), f"/p/{product.pk}/{product.slug}/")


# --- Storefront pages ---------------------------------------------------------------------


def _pages(product):
    return ["/", "/c/shoes/", "/search?q=sneaker", f"/p/{product.pk}/{product.slug}/"]


def _page(client, path, **headers):
    response = client.get(path, **headers)
    assert response.status_code == 200, path
    return response.content.decode()


def test_pages_are_served_from_the_cache_with_fresh_stock_only(client, product, django_assert_num_queries):
    for path in _pages(product):
        _page(client, path)
    # a guest without a cart: the stock of what the page shows, nothing else
    for path in _pages(product):
        with django_assert_num_queries(1):
            _page(client, path)


def test_a_price_change_shows_on_every_page_at_the_next_read(client, product):
    for path in _pages(product):
        assert "₩10,000" in _page(client, path), path
        assert "₩10,000" in _page(client, path), path  # cached
    services.market_price_set(sku=product.skus.get(), market=market_get("KR"), list_price=8000)
    for path in _pages(product):
        html = _page(client, path)
        assert "₩8,000" in html, path
        assert "₩10,000" not in html, path


def test_a_sale_disappears_from_pages_at_its_end(client, shoes, monkeypatch, settings):
    settings.CATALOG_READ_CACHE_SECONDS = 3 * 3600  # the sale's end, not the TTL, must end it
    ends = clock.now() + dt.timedelta(hours=1)
    p = ProductFactory(category=shoes, name_en="Sneaker", kr=10000, kr_sale=7000, sale_ends_at=ends)
    _stock(p, 20)
    for path in _pages(p):
        assert "₩7,000" in _page(client, path), path
        assert "₩7,000" in _page(client, path), path  # cached
    later = ends + dt.timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    for path in _pages(p)[1:]:  # (the home page's deals are the ranking's: a sale, then none)
        html = _page(client, path)
        assert "₩7,000" not in html, path
        assert "₩10,000" in html, path


def test_stock_reserved_away_is_sold_out_on_every_page_at_the_next_read(client, product):
    for path in _pages(product):
        assert "Sold out" not in _page(client, path, HTTP_ACCEPT_LANGUAGE="en"), path
    sku = product.skus.get()
    inventory_services.reservation_create(owner="order:1", lines=[(sku.code, 20)], market=market_get("KR"))
    for path in _pages(product):
        html = _page(client, path, HTTP_ACCEPT_LANGUAGE="en")
        assert "Sold out" in html, path
        if not path.startswith("/p/"):
            assert 'name="product"' not in html, path  # no card's add-to-cart form


def test_pages_keep_markets_and_languages_apart(client, product):
    for market, language, price, name in [
        ("KR", "ko", "₩10,000", "운동화"),
        ("KR", "en", "₩10,000", "Sneaker"),
        ("US", "en", "$10.00", "Sneaker"),
        ("US", "ko", "$10.00", "운동화"),
    ]:
        headers = {"HTTP_X_MARKET": market, "HTTP_ACCEPT_LANGUAGE": language}
        for path in _pages(product):
            for _ in range(2):  # the second read is the cached one
                html = _page(client, path, **headers)
                assert price in html and name in html, (path, market, language)


def test_a_cached_page_shows_no_other_shoppers_name_cart_or_token(product):
    # given a signed-in member with 3 units in the cart reads every page first (fills the cache)
    member = MemberFactory(name="Alice Kim")
    alice = Client(enforce_csrf_checks=True)
    alice.force_login(member)
    kr = market_get("KR")
    cart = carts_services.member_cart_get_or_create(user=member, market=kr)
    carts_services.cart_item_add(cart=cart, sku_code=product.skus.get().code, quantity=3, market=kr)
    for path in _pages(product):
        html = _page(alice, path)
        assert "Alice Kim" in html and 'class="cart-count" aria-hidden="true">3<' in html, path
    # when a guest reads the same pages (from the cache)
    guest = Client(enforce_csrf_checks=True)
    for path in _pages(product):
        html = _page(guest, path)
        # then nothing of Alice's, and the guest's own CSRF token in every form
        assert "Alice Kim" not in html and "cart-count" not in html, path
        assert readcache.CSRF_PLACEHOLDER not in html, path
        tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))
        assert tokens, path
        for token in tokens:  # each token is accepted for the guest's own session
            response = guest.post("/preferences", {"language": "en", "csrfmiddlewaretoken": token})
            assert response.status_code == 302, path


# --- A plain guest's shell, memoised per process (views._guest_page) ------------------------

#: Pages whose search box and switchers' way back carry markup-like text.
HOSTILE_PAGES = [
    "/search?q=%3Cb%3E%22x%27%26amp%3B%40%40shell-title%40%40",
    "/c/shoes/?sort=price&next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
]


def _tokenless(html):
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken" value=""', html)


@pytest.mark.parametrize(("market", "language"), [("KR", "ko"), ("US", "en"), ("KR", "en")])
def test_a_guest_page_built_on_the_memoised_shell_is_the_full_render(
    client, product, monkeypatch, market, language
):
    from django.core.cache import cache

    from apps.catalog import views

    headers = {"HTTP_X_MARKET": market, "HTTP_ACCEPT_LANGUAGE": language}
    paths = [*_pages(product), *HOSTILE_PAGES]

    def pages():
        out = {}
        for path in paths:
            cache.clear()  # a miss: the page is put together now, not read back
            out[path] = _tokenless(_page(client, path, **headers))
        return out

    # given every page put together on the memoised shells
    views._guest_shells.clear()
    memoised = pages()
    assert views._guest_shells and None not in views._guest_shells.values()
    # when every page is rendered whole instead (no shell can be memoised)
    monkeypatch.setattr(views, "_shell_render", lambda *args, **kwargs: None)
    views._guest_shells.clear()
    # then they are the same, character for character, hostile text escaped the same way
    assert pages() == memoised
    assert "&lt;b&gt;&quot;x&#x27;&amp;amp;@@shell-title@@" in memoised[HOSTILE_PAGES[0]]
    assert "<script>alert" not in memoised[HOSTILE_PAGES[1]]


def test_a_market_edit_shows_in_the_guest_shell_once_the_page_is_built_again(client, product):
    from django.core.cache import cache

    from apps.markets.models import Market
    from apps.markets.services import markets_cache_clear

    # given the home page's footer, put together on the memoised shell
    assert "within 7 days" in _page(client, "/", HTTP_ACCEPT_LANGUAGE="en")
    # when staff change the market's return window and the page is built again
    Market.objects.filter(code="KR").update(return_window_days=21)
    markets_cache_clear()
    cache.clear()
    # then its footer says so
    assert "within 21 days" in _page(client, "/", HTTP_ACCEPT_LANGUAGE="en")
