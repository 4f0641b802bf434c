"""Browse the storefront like a shopper: home -> category -> sort by price -> product,
in Korean (KR market, won) and in English (US market, dollars). No JavaScript needed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.catalog import services
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop():
    fashion = CategoryFactory(slug="fashion", name_ko="패션", name_en="Fashion")
    shoes = CategoryFactory(slug="shoes", name_ko="신발", name_en="Shoes", parent=fashion)
    bags = CategoryFactory(slug="bags", name_ko="가방", name_en="Bags", parent=fashion)
    mid = ProductFactory(category=bags, name_ko="캔버스 토트백", name_en="Canvas Tote", kr=39000, us=2900)
    dear = ProductFactory(
        category=shoes,
        name_ko="프로 러닝화",
        name_en="Pro Running Shoes",
        kr=120000,
        us=9900,
        rocket_delivery=True,
    )
    cheap = ProductFactory(
        category=shoes,
        name_ko="데일리 운동화",
        name_en="Daily Sneakers",
        kr=30000,
        kr_sale=24000,
        us=2500,
        us_sale=1999,
        sale_ends_at=timezone.now() + dt.timedelta(hours=6),
        skus=2,
    )
    kr = WarehouseFactory(code="KR-ICN1", market_id="KR")
    us = WarehouseFactory(code="US-NJ1", market_id="US")
    for product in (mid, dear, cheap):
        for sku in product.skus.all():
            StockLevelFactory(sku=sku, warehouse=kr, on_hand=50)
            StockLevelFactory(sku=sku, warehouse=us, on_hand=4)
    for product, units in ((dear, 9), (mid, 5), (cheap, 2)):
        services.product_sales_record(product_id=product.pk, market_code="KR", units=units)
        services.product_sales_record(product_id=product.pk, market_code="US", units=units)
    return {"cheap": cheap, "mid": mid, "dear": dear}


def _names(page):
    return [n.strip() for n in page.locator("ul.products .card-name").all_inner_texts()]


def test_browse_in_korean(page, live_server, shop):
    # home: best sellers and category entry points
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.get_by_role("heading", name="지금 인기 있는 상품").is_visible()
    assert "프로 러닝화" in page.locator("section.shelf-popular ol.products").inner_text()
    # category (includes its subcategories), then sort by price with the plain form
    page.get_by_role("link", name="패션").first.click()
    page.wait_for_url("**/c/fashion/")
    assert page.get_by_role("heading", level=1).inner_text() == "패션"
    page.select_option("#sort", "price")
    page.get_by_role("button", name="필터 적용").click()
    page.wait_for_url("**sort=price**")
    assert _names(page) == ["데일리 운동화", "캔버스 토트백", "프로 러닝화"]
    first_card = page.locator("ul.products .card").first
    assert "₩24,000" in first_card.inner_text() and "₩30,000" in first_card.inner_text()
    assert "20%" in first_card.inner_text()
    # product detail
    first_card.locator("a.card-link").click()
    page.wait_for_url(f"**/p/{shop['cheap'].pk}/**")
    assert page.get_by_role("heading", level=1).inner_text() == "데일리 운동화"
    assert page.locator("#price").inner_text() == "₩24,000"
    assert page.locator("input[type=radio][name=sku]").count() == 2
    assert "세일 종료" in page.locator(".sale-ends").inner_text()
    cart = page.get_by_role("button", name="장바구니 담기", exact=True)
    assert cart.is_enabled()


def test_browse_in_english_in_the_us_market(page, live_server, shop):
    page.context.add_cookies(
        [
            {"name": "joopang_lang", "value": "en", "url": live_server.url},
            {"name": "joopang_market", "value": "US", "url": live_server.url},
        ]
    )
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Popular right now").is_visible()
    page.get_by_role("link", name="Fashion").first.click()
    page.wait_for_url("**/c/fashion/")
    page.select_option("#sort", "-price")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**sort=-price**")
    assert _names(page) == ["Pro Running Shoes", "Canvas Tote", "Daily Sneakers"]
    assert "$99.00" in page.locator("ul.products .card").first.inner_text()
    assert "Rocket delivery" in page.locator("ul.products .card").first.inner_text()
    # ascending, then open the cheapest
    page.select_option("#sort", "price")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**sort=price**")
    page.get_by_role("link", name="Daily Sneakers").click()
    # the listing has an h1 too: wait for the product page before reading it
    page.wait_for_url(f"**/p/{shop['cheap'].pk}/**")
    assert page.get_by_role("heading", level=1).inner_text() == "Daily Sneakers"
    assert page.locator("#price").inner_text() == "$19.99"
    assert page.locator("#stock-status").inner_text().strip() == "Only 4 left"  # the US warehouse's 4 units
    # choose the second option: with JavaScript the page swaps the price block in place
    # (tests/e2e/test_storefront_pages.py checks it, and the plain form without JavaScript)
    page.locator("input[type=radio][name=sku]").nth(1).check()
    page.wait_for_url("**sku=**")
    assert page.locator("input[type=radio][name=sku]").nth(1).is_checked()
    page.locator(".list-price", has_text="$26.00").wait_for()  # the second option's list price
    expect(page.locator("#add-to-cart").get_by_role("button", name="Add to cart", exact=True)).to_be_enabled()
