"""Storefront catalog pages render server-side, in Korean and English, market-aware."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.catalog import services
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    fashion = CategoryFactory(slug="fashion", name_ko="패션", name_en="Fashion")
    shoes = CategoryFactory(slug="shoes", name_ko="신발", name_en="Shoes", parent=fashion)
    cheap = ProductFactory(
        category=shoes,
        name_ko="데일리 운동화",
        name_en="Daily Sneakers",
        kr=30000,
        us=2500,
        rocket_delivery=True,
    )
    dear = ProductFactory(
        category=shoes,
        name_ko="프로 러닝화",
        name_en="Pro Running Shoes",
        kr=120000,
        kr_sale=90000,
        us=9900,
        brand=BrandFactory(slug="bluepeak", name_ko="블루피크", name_en="Blue Peak"),
        sale_ends_at=timezone.now() + dt.timedelta(hours=3),
        skus=2,
    )
    wh = WarehouseFactory(code="KR-1", market_id="KR")
    for sku in dear.skus.all():
        StockLevelFactory(sku=sku, warehouse=wh, on_hand=2)
    services.product_sales_record(product_id=dear.pk, market_code="KR", units=4)
    return {"fashion": fashion, "shoes": shoes, "cheap": cheap, "dear": dear}


def test_home_shows_top_products_and_categories_in_korean(client, shop):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'href="/c/fashion/"' in html and "패션" in html
    assert "프로 러닝화" in html  # the best seller
    assert "₩90,000" in html and "₩120,000" in html and "25%" in html


def test_category_page_lists_descendants_sorted_by_price_in_english_and_dollars(client, shop):
    response = client.get("/c/fashion/?sort=price&lang=en&market=US")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Daily Sneakers") < html.index("Pro Running Shoes")
    assert "$25.00" in html and "$99.00" in html
    assert "Rocket delivery" in html
    assert 'href="/c/shoes/"' in html


def test_category_price_filter_takes_major_units(client, shop):
    html = client.get("/c/fashion/?min_price=30&market=US&lang=en").content.decode()
    assert "Pro Running Shoes" in html and "Daily Sneakers" not in html


def test_unknown_category_is_404(client):
    assert client.get("/c/nope/").status_code == 404


def test_product_page_has_sku_radio_buttons_sale_end_and_add_to_cart(client, shop):
    dear = shop["dear"]
    response = client.get(f"/p/{dear.pk}/{dear.slug}/", HTTP_ACCEPT_LANGUAGE="ko")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('type="radio"') == 2
    assert "₩90,000" in html
    assert "세일 종료" in html
    assert "남은 수량 2개" in html
    assert 'action="/cart/add"' in html
    assert "장바구니 담기" in html


def test_product_page_redirects_to_the_canonical_slug(client, shop):
    cheap = shop["cheap"]
    response = client.get(f"/p/{cheap.pk}/")
    assert response.status_code == 301
    assert response["Location"] == f"/p/{cheap.pk}/{cheap.slug}/"


def test_search_page_without_a_query_shows_a_hint(client):
    assert client.get("/search").status_code == 200


def test_generated_image_is_svg(client, shop):
    response = client.get(f"/p/{shop['cheap'].pk}/image.svg")
    assert response["Content-Type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")
