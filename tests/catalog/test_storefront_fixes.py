"""Issue 15's storefront defects, server side: the home shelves, single-option products,
the language switch from a ``?lang=`` page, per-language images, FX discounts, search
without results, the result count and pager, and no link to a page that does not exist."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from apps.catalog import services
from apps.catalog.pricing import PriceRow, effective
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    fashion = CategoryFactory(slug="fashion", name_ko="패션", name_en="Fashion")
    shoes = CategoryFactory(slug="shoes", name_ko="신발", name_en="Shoes", parent=fashion)
    food = CategoryFactory(slug="food", name_ko="식품", name_en="Food")
    brand = BrandFactory(slug="bluepeak", name_ko="블루피크", name_en="Blue Peak")
    single = ProductFactory(
        category=food, name_ko="제주 감귤", name_en="Jeju Tangerines", kr=19900, us=1499, code="ORANGE"
    )
    multi = ProductFactory(
        category=shoes,
        brand=brand,
        name_ko="프로 러닝화",
        name_en="Pro Running Shoes",
        kr=120000,
        kr_sale=90000,
        us=9900,
        sale_ends_at=timezone.now() + dt.timedelta(hours=30),
        skus=2,
        code="RUN",
    )
    others = [
        ProductFactory(category=shoes, name_ko=f"운동화 모델{c}", name_en=f"Sneaker model {c}", kr=30000 + i)
        for i, c in enumerate("ABCDEFGH")
    ]
    services.product_sales_record(product_id=multi.pk, market_code="KR", units=4)
    return {"single": single, "multi": multi, "others": others}


def test_home_shows_deals_new_arrivals_and_category_picks(client, shop):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for heading in (
        "지금 인기 있는 상품",
        "오늘의 특가",
        "새로 나온 상품",
        "패션 추천 상품",
        "식품 추천 상품",
    ):
        assert heading in html
    # more than five products, and the deal says when it ends (Korean: 오후/오전, no seconds)
    assert len(set(re.findall(r'href="/p/(\d+)/', html))) == 10
    deals = html[html.index('id="shelf-deals"') : html.index('id="shelf-new"')]
    assert "프로 러닝화" in deals and "세일 종료" in deals
    assert re.search(r"\d+월 \d+일 (오전|오후) \d+:\d\d<", deals)


def test_home_query_count_does_not_grow_with_the_shelves(client, shop, django_assert_num_queries, settings):
    settings.CATALOG_READ_CACHE_SECONDS = 0  # the page as built (test_read_cache: as cached)
    client.get("/")  # warm the caches (markets, tree, ranking, shelves)
    # then: one listing query for every shelf, one stock query (the running coupon campaigns:
    # the process's copy the warm-up read)
    with django_assert_num_queries(2):
        client.get("/")


def test_single_option_product_shows_no_picker_and_no_sku_code(client, shop):
    single = shop["single"]
    html = client.get(f"/p/{single.pk}/{single.slug}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'type="radio"' not in html
    assert "이 옵션 보기" not in html
    assert "ORANGE" not in html.replace('value="ORANGE-1"', "")  # only the cart's hidden field


def test_options_are_labelled_by_their_values_not_codes(client, shop):
    multi = shop["multi"]
    html = client.get(f"/p/{multi.pk}/{multi.slug}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    labels = re.findall(r'<span class="sku-name">([^<]*)</span>', html)
    assert labels == ["사이즈 1", "사이즈 2"]
    assert 'src="/static/catalog/sku-picker.js"' in html


def test_language_switch_from_a_lang_url_lands_in_the_chosen_language(client, shop):
    client.get("/?lang=ko")
    response = client.post("/preferences", {"language": "en", "market": "KR", "next": "/search?q=x&lang=ko"})
    assert response.status_code == 302
    assert response["Location"] == "/search?q=x"
    page = client.get(response["Location"])
    assert page["Content-Language"] == "en"


def test_generated_images_follow_the_page_language(client, shop):
    single = shop["single"]
    html = client.get(f"/p/{single.pk}/{single.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'src="/p/{single.pk}/image.en.svg"' in html
    en = client.get(f"/p/{single.pk}/image.en.svg", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    ko = client.get(f"/p/{single.pk}/image.ko.svg", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Jeju Tangerines" in en and "감귤" not in en
    assert "제주 감귤" in ko
    # the API's language-neutral URL follows the request's language
    assert "Jeju Tangerines" in client.get(f"/p/{single.pk}/image.svg?lang=en").content.decode()


def test_a_converted_sale_shows_its_own_percentage():
    now = timezone.now()
    # 10 % off in won, converted to dollars: 21.65 -> 19.49 is 9.98 %
    fx = effective(PriceRow("USD", 2165, 1949, None, None), now, from_fx=True)
    assert fx.discount_percent == 10
    # a stored price never shows more than the shopper saves
    assert effective(PriceRow("USD", 2165, 1949, None, None), now).discount_percent == 9
    assert effective(PriceRow("KRW", 30000, 27000, None, None), now).discount_percent == 10


def test_listing_shows_the_result_count_and_a_way_back(client, shop):
    html = client.get("/c/fashion/?limit=4", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "9 products" in html
    next_url = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    second = client.get(next_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "9 products" in second
    assert 'rel="prev"' in second and "First page" in second and 'rel="next"' in second


def test_search_without_results_offers_a_way_on(client, shop):
    html = client.get("/search", {"q": "snaeker"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "0 products" in html
    assert 'Did you mean <a href="/search?q=sneaker">sneaker</a>?' in html
    assert "Browse the categories" in html and 'href="/c/fashion/"' in html
    assert "Popular right now" in html and "Pro Running Shoes" in html


def test_search_without_results_in_korean_suggests_a_korean_name(client, shop):
    html = client.get("/search", {"q": "러닝하"}, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    # no "을(를)" guessing a particle: the copula 인가요 reads right after any word
    assert '찾으시는 상품이 혹시 <a href="/search?q=%EB%9F%AC%EB%8B%9D%ED%99%94">러닝화</a>인가요?' in html
    assert "(를)" not in html and "(을)" not in html


def test_a_very_long_search_searches_its_start_and_echoes_no_more(client, shop):
    html = client.get("/search", {"q": "sneaker " + "x" * 10_000}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "x" * 101 not in html  # bounded echo (title, heading, boxes)
    assert "q: " not in html  # no form error naming the parameter
    assert 'maxlength="100"' in html  # the header box says so before sending


@pytest.mark.parametrize(
    ("query", "label"), [({"min_price": "abc"}, "Minimum price"), ({"sort": "zzz"}, "Sort")]
)
def test_a_refused_listing_filter_is_named_by_its_label_not_its_parameter(client, shop, query, label):
    html = client.get("/search", {"q": "sneaker", **query}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    name = next(iter(query))
    assert f"{name}: " not in html
    assert f"{label}: " in html


def test_an_invalid_choice_reads_as_plain_korean(client, shop):
    html = client.get("/search", {"q": "러닝", "sort": "zzz"}, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "정렬: 선택할 수 없는 값입니다: zzz" in html
    assert "이/가" not in html


@pytest.mark.parametrize("path", ["/search?q=a&category=no-such-thing", "/search?q=a&category=" + "9" * 30])
def test_a_search_filtered_by_an_unknown_category_is_the_404_page_not_a_500(client, shop, path):
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response["X-Request-ID"] in response.content.decode()


def test_no_header_or_footer_link_leads_nowhere(client, shop):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'href="/cart/"' in html  # the cart exists (issue 18): its link is checked below
    chrome = html[: html.index("<main")] + html[html.index("</main>") :]
    for href in set(re.findall(r'href="(/[^"]*)"', chrome)):
        if href.startswith("/static/") or href.startswith("#"):
            continue
        assert client.get(href).status_code == 200, href


def test_the_footer_names_the_shop_in_the_page_language(client, shop):
    ko = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    en = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "© 주팡 ·" in ko and "© Joopang" not in ko
    assert "© Joopang ·" in en


def test_the_home_page_and_the_api_share_the_popular_ranking_without_changing_its_size(client, shop):
    for i, product in enumerate(shop["others"]):
        services.product_sales_record(product_id=product.pk, market_code="KR", units=10 + i)
    client.get("/")  # caches the ranking for the home page's longer shelf
    body = client.get("/api/v1/products/popular", HTTP_X_MARKET="KR").json()
    assert len(body) == 5
    assert body[0]["id"] == shop["others"][-1].pk


def test_spelling_hints_compare_hangul_letter_by_letter():
    from apps.catalog.search import spelling_suggestion

    vocabulary = ["샴푸", "운동화", "blue peak", "sneakers", "headphones"]
    assert spelling_suggestion("샴프", vocabulary) == "샴푸"  # one jamo off in two syllables
    assert spelling_suggestion("bluepeak", vocabulary) == "blue peak"
    assert spelling_suggestion("red snaekers", vocabulary) == "red sneakers"
    assert spelling_suggestion("샴푸", vocabulary) is None  # found: nothing to suggest
    assert spelling_suggestion("xqzt", vocabulary) is None


def test_listing_pages_count_without_a_query_per_product(client, shop, django_assert_num_queries, settings):
    settings.CATALOG_READ_CACHE_SECONDS = 0  # the page as built (test_read_cache: as cached)
    client.get("/c/fashion/")  # warm the caches (markets, tree)
    # a short list counts itself: the page of listings, their stock (the running coupon
    # campaigns: the process's copy the warm-up read). On PostgreSQL a parent category's page
    # is merged from its subcategories' pages, then its rows are read by id: one more query.
    from django.db import connection

    merged = 1 if connection.features.supports_slicing_ordering_in_compound else 0
    with django_assert_num_queries(2 + merged):
        client.get("/c/fashion/")
    # a list longer than a page: one COUNT(*) more, whatever the page size
    with django_assert_num_queries(3 + merged):
        client.get("/c/fashion/?limit=4")


def test_the_count_is_what_the_list_holds_read_from_the_listing_table_alone(client, shop, settings):
    """The storefront's "N products" comes from ``selectors.product_count``: the same
    filters as the page, counted without the joins the page's columns need (through them,
    a category's count read every product of a 200,000-product catalog)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.catalog import selectors
    from apps.markets.selectors import market_get

    kr = market_get("KR")
    fashion = selectors.category_get(slug="fashion")
    for filters in (
        {},
        {"category": fashion},
        {"category": selectors.category_get(slug="food")},
        {"category": fashion, "min_price": 30_003, "max_price": 90_000},
        {"q": "sneaker"},
        {"q": "운동화", "category": fashion, "max_price": 30_004},
        {"q": "nothing-matches"},
    ):
        rows, _keys = selectors.product_list(market=kr, **filters)
        assert selectors.product_count(market=kr, **filters) == len(list(rows)), filters
    settings.CATALOG_READ_CACHE_SECONDS = 0
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/c/fashion/?limit=4", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "9 products" in html
    (count,) = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert "JOIN" not in count
