"""Product list and detail API: filters, sorts, keyset paging, localization, FX fallback,
stock numbers and fixed query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import ProductListing
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def _stock(product, qty, warehouse_code="KR-A", market="KR", reserved=0):
    wh = WarehouseFactory(code=warehouse_code, market_id=market)
    for sku in product.skus.all():
        StockLevelFactory(sku=sku, warehouse=wh, on_hand=qty, reserved=reserved)


def _ids(response):
    return [row["id"] for row in response.json()["results"]]


def test_list_runs_two_queries_whatever_the_page_size(api_client, warm_cache, django_assert_num_queries):
    # given 30 stocked products
    for i in range(30):
        _stock(ProductFactory(kr=1000 + i, skus=2), 5)
    warm_cache(api_client)
    # when / then: one query for the page of listings, one for its stock (the running
    # coupon campaigns, none here, come from the process's copy the warm-up read)
    with django_assert_num_queries(2):
        small = api_client.get("/api/v1/products?limit=5&sort=price")
    with django_assert_num_queries(2):
        large = api_client.get("/api/v1/products?limit=30&sort=price")
    assert len(small.json()["results"]) == 5
    assert len(large.json()["results"]) == 30


def test_list_with_search_and_filters_also_runs_two_queries(
    api_client, warm_cache, django_assert_num_queries
):
    shoes = CategoryFactory(slug="shoes")
    for i in range(12):
        _stock(ProductFactory(category=shoes, name_ko=f"운동화 {i}", kr=1000 + i), 5)
    warm_cache(api_client)
    with django_assert_num_queries(2):
        response = api_client.get(
            "/api/v1/products?q=운동화&category=shoes&in_stock=true&min_price=1000&limit=50"
        )
    assert len(response.json()["results"]) == 12


def test_summary_fields_match_the_contract(api_client):
    # given a product on sale in KR with a brand and rocket delivery
    ends = timezone.now() + dt.timedelta(hours=5)
    product = ProductFactory(
        name_ko="나이키 운동화",
        name_en="Nike Sneakers",
        brand=BrandFactory(slug="nike", name_ko="나이키", name_en="Nike"),
        kr=100000,
        kr_sale=80000,
        sale_ends_at=ends,
        rocket_delivery=True,
    )
    _stock(product, 3)
    # when
    response = api_client.get("/api/v1/products", HTTP_ACCEPT_LANGUAGE="ko")
    # then
    row = response.json()["results"][0]
    assert response["Content-Language"] == "ko"
    assert row["id"] == product.pk
    assert row["name"] == "나이키 운동화"
    assert row["brand"] == {"id": product.brand_id, "slug": "nike", "name": "나이키"}
    assert row["price"] == {"amount": 80000, "currency": "KRW", "display": "₩80,000"}
    assert row["list_price"] == {"amount": 100000, "currency": "KRW", "display": "₩100,000"}
    assert row["sale"]["price"]["amount"] == 80000
    assert row["sale"]["ends_at"] == ends.isoformat().replace("+00:00", "Z")
    assert row["discount_percent"] == 20
    assert row["in_stock"] is True
    assert row["stock_status"] == "low"
    assert row["rocket_delivery"] is True
    assert row["coupon_applicable"] is False
    assert row["image_url"] == f"http://testserver/p/{product.pk}/image.svg"


def test_names_follow_the_request_language_with_fallback(api_client):
    # given one product named in both languages and one only in English
    both = ProductFactory(name_ko="생수", name_en="Mineral Water", kr=1000)
    english_only = ProductFactory(name_ko="", name_en="Only English", kr=2000)
    # when
    ko = api_client.get("/api/v1/products?sort=price", HTTP_ACCEPT_LANGUAGE="ko").json()["results"]
    en = api_client.get("/api/v1/products?sort=price", HTTP_ACCEPT_LANGUAGE="en").json()["results"]
    # then
    assert [r["name"] for r in ko] == ["생수", "Only English"]
    assert [r["name"] for r in en] == ["Mineral Water", "Only English"]
    assert [r["id"] for r in ko] == [both.pk, english_only.pk]


def test_us_price_falls_back_to_fx_from_the_kr_price(api_client):
    # given 13,855 won and no US price; USD/KRW = 1385.5 (seeded)
    product = ProductFactory(kr=13855, us=None)
    # when
    row = api_client.get("/api/v1/products", HTTP_X_MARKET="US").json()["results"][0]
    detail = api_client.get(f"/api/v1/products/{product.pk}", HTTP_X_MARKET="US").json()
    # then: exactly $10.00, in USD
    assert row["price"] == {"amount": 1000, "currency": "USD", "display": "$10.00"}
    assert detail["skus"][0]["price"]["amount"] == 1000
    assert ProductListing.objects.get(product=product, market_id="US").from_fx is True


def test_kr_fx_fallback_rounds_to_ten_won(api_client):
    # given only a US price of $10.01 -> 13,868.555 won -> rounded half up to 10 won
    ProductFactory(kr=None, us=1001)
    row = api_client.get("/api/v1/products", HTTP_X_MARKET="KR").json()["results"][0]
    assert row["price"]["amount"] == 13870
    assert row["price"]["currency"] == "KRW"


def test_explicit_market_price_wins_over_fx(api_client):
    ProductFactory(kr=13855, us=1234)
    row = api_client.get("/api/v1/products", HTTP_X_MARKET="US").json()["results"][0]
    assert row["price"]["amount"] == 1234


def test_category_filter_includes_descendants(api_client):
    # given a parent with two children and an unrelated category
    parent = CategoryFactory(slug="fashion")
    a = ProductFactory(category=CategoryFactory(slug="shoes", parent=parent), kr=1000)
    b = ProductFactory(category=CategoryFactory(slug="bags", parent=parent), kr=2000)
    c = ProductFactory(category=parent, kr=3000)
    ProductFactory(category=CategoryFactory(slug="food"), kr=4000)
    # then
    assert _ids(api_client.get("/api/v1/products?category=fashion&sort=price")) == [a.pk, b.pk, c.pk]
    assert _ids(api_client.get("/api/v1/products?category=shoes")) == [a.pk]


def test_unknown_category_is_a_404_problem(api_client):
    response = api_client.get("/api/v1/products?category=nope")
    assert response.status_code == 404
    assert response.json()["code"] == "catalog.category_not_found"


def test_price_range_filters_on_the_effective_price(api_client):
    # given a 10,000 won product on sale at 5,000, and one at 7,000
    on_sale = ProductFactory(kr=10000, kr_sale=5000)
    plain = ProductFactory(kr=7000)
    # then
    assert _ids(api_client.get("/api/v1/products?max_price=6000")) == [on_sale.pk]
    assert _ids(api_client.get("/api/v1/products?min_price=6000&max_price=8000")) == [plain.pk]
    assert _ids(api_client.get("/api/v1/products?min_price=9000")) == []


def test_in_stock_filter_counts_only_the_market_warehouses_and_reservations(api_client):
    # given: stocked in KR; stock only in the US; fully reserved in KR
    stocked = ProductFactory(kr=1000)
    _stock(stocked, 2)
    us_only = ProductFactory(kr=2000)
    _stock(us_only, 9, warehouse_code="US-A", market="US")
    reserved = ProductFactory(kr=3000)
    _stock(reserved, 4, reserved=4)
    # when
    response = api_client.get("/api/v1/products?in_stock=true&sort=price")
    all_rows = api_client.get("/api/v1/products?sort=price").json()["results"]
    # then
    assert _ids(response) == [stocked.pk]
    assert [r["stock_status"] for r in all_rows] == ["low", "sold_out", "sold_out"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("price", ["b", "c", "a"]), ("-price", ["a", "c", "b"]), ("newest", ["c", "b", "a"])],
)
def test_sorts(api_client, sort, expected):
    made = {"a": ProductFactory(kr=3000), "b": ProductFactory(kr=1000), "c": ProductFactory(kr=2000)}
    by_id = {p.pk: k for k, p in made.items()}
    assert [by_id[i] for i in _ids(api_client.get(f"/api/v1/products?sort={sort}"))] == expected


def test_popular_sort_orders_by_recent_units(api_client):
    a, b, c = ProductFactory(kr=1000), ProductFactory(kr=1000), ProductFactory(kr=1000)
    services.product_sales_record(product_id=b.pk, market_code="KR", units=5)
    services.product_sales_record(product_id=c.pk, market_code="KR", units=2)
    services.product_sales_record(product_id=c.pk, market_code="KR", units=1)
    assert _ids(api_client.get("/api/v1/products?sort=popular")) == [b.pk, c.pk, a.pk]


def test_invalid_sort_is_a_validation_problem(api_client):
    response = api_client.get("/api/v1/products?sort=cheapest")
    assert response.status_code == 400
    assert response.json()["code"] == "request.invalid"
    assert response.json()["errors"][0]["field"] == "sort"


def test_garbage_cursor_is_a_400(api_client):
    response = api_client.get("/api/v1/products?cursor=not-a-cursor")
    assert response.status_code == 400
    assert response.json()["code"] == "catalog.cursor_invalid"


@pytest.mark.parametrize("sort", ["price", "-price", "newest", "popular"])
def test_cursor_pages_have_no_duplicates_or_gaps_while_products_are_inserted(api_client, sort):
    # given 25 products, several sharing a price (ties are broken by id)
    originals = [ProductFactory(kr=1000 + (i % 7) * 100) for i in range(25)]
    for i, p in enumerate(originals[:6]):
        services.product_sales_record(product_id=p.pk, market_code="KR", units=i % 3 + 1)
    seen: list[int] = []
    url = f"/api/v1/products?sort={sort}&limit=7"
    inserted = []
    pages = 0
    while url:
        body = api_client.get(url).json()
        seen.extend(r["id"] for r in body["results"])
        url = body["next"]
        pages += 1
        # when new products (cheap, expensive, tied) appear between page fetches
        if pages < 4:
            inserted += [ProductFactory(kr=500), ProductFactory(kr=1300), ProductFactory(kr=99000)]
    # then no duplicates, and every original product was served exactly once
    assert len(seen) == len(set(seen))
    assert {p.pk for p in originals} <= set(seen)
    assert pages >= 4


def test_previous_link_returns_the_same_page(api_client):
    for i in range(9):
        ProductFactory(kr=1000 + i)
    first = api_client.get("/api/v1/products?sort=price&limit=4").json()
    second = api_client.get(first["next"]).json()
    back = api_client.get(second["previous"]).json()
    assert first["previous"] is None
    assert _ids_from(back) == _ids_from(first)


def _ids_from(body):
    return [r["id"] for r in body["results"]]


def test_detail_has_skus_with_available_quantity_in_the_market(api_client):
    # given two SKUs, stock in two KR warehouses (one with reservations) and one US warehouse
    product = ProductFactory(kr=10000, skus=2, max_per_order=3)
    s1, s2 = product.skus.order_by("position")
    kr1 = WarehouseFactory(code="KR-1", market_id="KR")
    kr2 = WarehouseFactory(code="KR-2", market_id="KR", priority=20)
    us = WarehouseFactory(code="US-1", market_id="US")
    StockLevelFactory(sku=s1, warehouse=kr1, on_hand=10, reserved=3)
    StockLevelFactory(sku=s1, warehouse=kr2, on_hand=5, reserved=0)
    StockLevelFactory(sku=s1, warehouse=us, on_hand=100, reserved=0)
    StockLevelFactory(sku=s2, warehouse=kr1, on_hand=2, reserved=2)
    # when
    body = api_client.get(f"/api/v1/products/{product.pk}", HTTP_ACCEPT_LANGUAGE="en").json()
    # then
    assert [(s["sku"], s["available_quantity"]) for s in body["skus"]] == [(s1.code, 12), (s2.code, 0)]
    assert body["skus"][0]["options"] == {"size": "1"}
    assert body["skus"][1]["price"] == {"amount": 11000, "currency": "KRW", "display": "₩11,000"}
    assert body["skus"][0]["max_per_order"] == 3
    assert body["price"]["amount"] == 10000
    assert body["stock_status"] == "in_stock"
    assert body["promotions"] == []
    assert body["coupon_applicable"] is False
    assert body["description"] == ""


def test_detail_runs_a_fixed_number_of_queries(api_client, warm_cache, django_assert_num_queries):
    one = ProductFactory(kr=1000, skus=1)
    many = ProductFactory(kr=1000, skus=6)
    warm_cache(api_client)
    # product, skus, prices, stock (the running coupon campaigns: the process's copy)
    with django_assert_num_queries(4):
        assert api_client.get(f"/api/v1/products/{one.pk}").status_code == 200
    with django_assert_num_queries(4):
        assert len(api_client.get(f"/api/v1/products/{many.pk}").json()["skus"]) == 6


def test_detail_of_an_unknown_or_inactive_product_is_404(api_client):
    hidden = ProductFactory(kr=1000, is_active=False)
    for pid in (hidden.pk, 999999):
        response = api_client.get(f"/api/v1/products/{pid}")
        assert response.status_code == 404
        assert response.json()["code"] == "catalog.product_not_found"


def test_ended_sale_is_not_applied_even_before_the_listing_refresh(api_client):
    # given a sale that ended a second ago (the listing still holds it as its sort key)
    product = ProductFactory(kr=10000, kr_sale=5000, sale_ends_at=timezone.now() + dt.timedelta(seconds=1))
    ProductListing.objects.filter(product=product).update(
        sale_ends_at=timezone.now() - dt.timedelta(seconds=1)
    )
    # when
    row = api_client.get("/api/v1/products").json()["results"][0]
    # then the shown price is the list price
    assert row["price"]["amount"] == 10000
    assert row["sale"] is None


def test_listings_refresh_due_moves_the_sort_key_after_a_sale_ends():
    product = ProductFactory(kr=10000, kr_sale=5000, sale_ends_at=timezone.now() + dt.timedelta(hours=1))
    assert ProductListing.objects.get(product=product, market_id="KR").price == 5000
    services.listings_refresh_due(now=timezone.now() + dt.timedelta(hours=2))
    assert ProductListing.objects.get(product=product, market_id="KR").price == 10000


def test_categories_tree(api_client):
    parent = CategoryFactory(slug="food", name_ko="식품", name_en="Food")
    child = CategoryFactory(slug="water", name_ko="생수", name_en="Water", parent=parent)
    body = api_client.get("/api/v1/categories", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert body == [
        {
            "id": parent.pk,
            "slug": "food",
            "name": "식품",
            "children": [{"id": child.pk, "slug": "water", "name": "생수", "children": []}],
        }
    ]


@pytest.mark.parametrize("sort", ["price", "-price", "newest", "popular", "relevance"])
def test_a_parent_categorys_pages_merged_from_its_subcategories_are_the_whole_order(api_client, sort):
    """On PostgreSQL a parent category's page is merged from each subcategory's own page
    (keyset ``parts``); forwards and back it is the same order as sorting the whole category."""
    # given a parent with products of its own and in two children, prices and sales tied
    parent = CategoryFactory(slug="fashion")
    shoes = CategoryFactory(slug="shoes", parent=parent)
    bags = CategoryFactory(slug="bags", parent=parent)
    products = [
        ProductFactory(category=(parent, shoes, bags)[i % 3], kr=1000 + (i % 5) * 100) for i in range(17)
    ]
    for i, p in enumerate(products[:8]):
        services.product_sales_record(product_id=p.pk, market_code="KR", units=i % 4 + 1)
    ProductFactory(category=CategoryFactory(slug="food"), kr=1200)  # not in the category
    # the whole category in one page (a single sort of every product)
    order = "q=product" if sort == "relevance" else f"sort={sort}"  # a search: ranked by relevance
    whole = _ids(api_client.get(f"/api/v1/products?category=fashion&{order}&limit=100"))
    assert sorted(whole) == sorted(p.pk for p in products)
    # when it is read 4 at a time, forwards and then back from the last page
    pages, url = [], f"/api/v1/products?category=fashion&{order}&limit=4"
    while url:
        body = api_client.get(url).json()
        pages.append(body)
        url = body["next"]
    back, url = [], pages[-1]["previous"]
    while url:
        body = api_client.get(url).json()
        back.insert(0, _ids_from(body))
        url = body["previous"]
    # then the pages are the whole order cut in fours, both ways
    assert [i for page in pages for i in _ids_from(page)] == whole
    assert back == [_ids_from(page) for page in pages[:-1]]
