"""Korean (2-syllable bigrams) and English search, ranked by name matches; on PostgreSQL
the token containment uses the GIN index (EXPLAIN)."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.catalog import search, selectors
from apps.catalog.demo import generate_products
from apps.markets.selectors import market_get
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory


def test_korean_runs_become_bigrams_and_english_words_get_a_singular():
    assert search.document_tokens(["나이키 운동화", "Running Shoes"]) == [
        "나이",
        "이키",
        "운동",
        "동화",
        "running",
        "shoes",
        "shoe",
    ]
    assert search.query_tokens("운동화") == ["운동", "동화"]
    assert search.query_tokens("생수") == ["생수"]
    assert search.query_tokens("SHOES") == ["shoe"]


@pytest.fixture
def catalog(db):
    shoes = CategoryFactory(slug="shoes", name_ko="신발", name_en="Shoes")
    drinks = CategoryFactory(slug="drinks", name_ko="음료", name_en="Drinks")
    socks = CategoryFactory(slug="socks", name_ko="양말", name_en="Socks")
    nike = BrandFactory(slug="nike", name_ko="나이키", name_en="Nike")
    return {
        "sneakers": ProductFactory(
            category=shoes, brand=nike, name_ko="나이키 에어 운동화", name_en="Nike Air Sneakers"
        ),
        "kids": ProductFactory(category=shoes, name_ko="아동 운동화", name_en="Kids Sneakers"),
        "socks": ProductFactory(
            category=socks,
            name_ko="스포츠 양말",
            name_en="Sport Socks",
            description_ko="운동화와 잘 어울리는 양말",
            description_en="Goes well with sneakers",
        ),
        "book": ProductFactory(category=shoes, name_ko="운동 동화책", name_en="Sports Fairy Tales"),
        "water": ProductFactory(category=drinks, name_ko="제주 생수 2L", name_en="Jeju Mineral Water 2L"),
        "sparkling": ProductFactory(category=drinks, name_ko="탄산수", name_en="Sparkling Water"),
        "juice": ProductFactory(category=drinks, name_ko="오렌지 주스", name_en="Orange Juice"),
    }


def _search(api_client, q, **headers):
    return [r["id"] for r in api_client.get("/api/v1/products", {"q": q}, **headers).json()["results"]]


def test_korean_two_syllable_words_find_the_products_ranked_by_name(api_client, catalog):
    found = _search(api_client, "운동화")
    # names containing 운동화 first (by id within equal score), then the description match;
    # "운동 동화책" holds both bigrams but not the word, so it ranks with the description match
    assert found[:2] == [catalog["sneakers"].pk, catalog["kids"].pk]
    assert set(found[2:]) == {catalog["socks"].pk, catalog["book"].pk}
    assert _search(api_client, "생수") == [catalog["water"].pk]


def test_english_words_find_products_in_either_language(api_client, catalog):
    assert _search(api_client, "water") == [catalog["water"].pk, catalog["sparkling"].pk]
    assert _search(api_client, "sneaker")[:2] == [catalog["sneakers"].pk, catalog["kids"].pk]
    assert _search(api_client, "nike sneakers")[0] == catalog["sneakers"].pk
    assert _search(api_client, "juice orange") == [catalog["juice"].pk]
    assert _search(api_client, "zebra") == []


def test_brand_and_category_names_are_searchable(api_client, catalog):
    assert _search(api_client, "나이키") == [catalog["sneakers"].pk]
    assert set(_search(api_client, "음료")) == {
        catalog["water"].pk,
        catalog["sparkling"].pk,
        catalog["juice"].pk,
    }


def test_search_with_an_explicit_sort_uses_it(api_client, catalog):
    body = api_client.get("/api/v1/products", {"q": "water", "sort": "-price"}).json()
    prices = [r["price"]["amount"] for r in body["results"]]
    assert prices == sorted(prices, reverse=True)


def test_search_page_renders_results(client, catalog):
    response = client.get("/search", {"q": "생수"}, HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 200
    assert "제주 생수 2L" in response.content.decode()
    assert "오렌지 주스" not in response.content.decode()


@pytest.mark.django_db
def test_postgres_search_uses_the_gin_index(require_postgres, catalog):
    # given enough rows that a sequential scan is not free, and fresh statistics
    generate_products(count=3000, prefix="X")
    with connection.cursor() as cur:
        cur.execute("ANALYZE catalog_product; ANALYZE catalog_productlisting")
    qs, _keys = selectors.product_list(market=market_get("KR"), q="운동화", sort="price")
    # when
    plan = qs.explain()
    # then
    assert "catalog_product_search_gin" in plan, plan
    assert "Seq Scan on catalog_product " not in plan, plan
