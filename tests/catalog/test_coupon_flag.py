"""Products' ``coupon_applicable`` (issue 21 item 4) reads the running campaigns of the
request's market (coupons.selectors.products_with_campaigns), on the API's list and detail
and on the storefront's cards and product page, in a fixed number of queries per page."""

from __future__ import annotations

import pytest

from tests.accounts.factories import staff
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.coupons.factories import active_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(db):
    """Fashion > shoes; a shirt in fashion, two shoes, a cup elsewhere."""
    fashion = CategoryFactory(slug="fashion")
    shoes = CategoryFactory(slug="shoes", parent=fashion)
    kitchen = CategoryFactory(slug="kitchen")
    return {
        "shirt": ProductFactory(category=fashion, kr=1000),
        "sneaker": ProductFactory(category=shoes, kr=2000),
        "boot": ProductFactory(category=shoes, kr=3000),
        "cup": ProductFactory(category=kitchen, kr=4000),
        "fashion": fashion,
    }


def _flags(api_client, **headers) -> dict[int, bool]:
    rows = api_client.get("/api/v1/products?limit=50", **headers).json()["results"]
    return {row["id"]: row["coupon_applicable"] for row in rows}


def test_a_category_campaign_flags_its_products_and_subcategories_but_not_exclusions(api_client, catalog):
    # given: a running KR campaign on fashion (shoes below it), the boot excluded
    marketer = staff("marketing_manager")
    active_campaign(
        actor=marketer, categories=[catalog["fashion"].pk], excluded_products=[catalog["boot"].pk]
    )
    # when
    flags = _flags(api_client)
    # then
    assert flags == {
        catalog["shirt"].pk: True,
        catalog["sneaker"].pk: True,
        catalog["boot"].pk: False,
        catalog["cup"].pk: False,
    }
    detail = api_client.get(f"/api/v1/products/{catalog['sneaker'].pk}").json()
    assert detail["coupon_applicable"] is True
    assert api_client.get(f"/api/v1/products/{catalog['cup'].pk}").json()["coupon_applicable"] is False


def test_no_flag_without_a_running_campaign_of_the_market(api_client, catalog):
    # given: a product campaign in draft, and one running in US only
    marketer = staff("marketing_manager")
    active_campaign(actor=marketer, status="draft", products=[catalog["shirt"].pk])
    active_campaign(actor=marketer, markets=["US"], products=[catalog["cup"].pk])
    # when / then: KR shows none; US shows the cup
    assert set(_flags(api_client).values()) == {False}
    us = _flags(api_client, HTTP_X_MARKET="US")
    assert us[catalog["cup"].pk] is True and us[catalog["shirt"].pk] is False


def test_a_running_campaign_costs_a_fixed_number_of_queries_per_page(
    api_client, catalog, warm_cache, django_assert_num_queries
):
    # given: a campaign for every product, and ten more products
    active_campaign(actor=staff("marketing_manager"))
    for i in range(10):
        ProductFactory(category=catalog["fashion"], kr=5000 + i)
    warm_cache(api_client)
    # when / then: listings and stock (2), whatever the page size; the running campaigns'
    # reach comes from the process's copy the warm-up read (a campaign with categories
    # would add the page's products' categories: one more)
    with django_assert_num_queries(2):
        small = api_client.get("/api/v1/products?limit=3")
    with django_assert_num_queries(2):
        large = api_client.get("/api/v1/products?limit=50")
    assert [r["coupon_applicable"] for r in small.json()["results"]] == [True] * 3
    assert [r["coupon_applicable"] for r in large.json()["results"]] == [True] * 14


def test_the_storefront_card_and_product_page_show_the_coupon_badge(client, catalog):
    active_campaign(actor=staff("marketing_manager"), products=[catalog["sneaker"].pk])

    listing = client.get("/c/fashion/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    sneaker = client.get(f"/p/{catalog['sneaker'].pk}/", follow=True, HTTP_ACCEPT_LANGUAGE="en")
    cup = client.get(f"/p/{catalog['cup'].pk}/", follow=True, HTTP_ACCEPT_LANGUAGE="en")

    assert listing.count('class="badge coupon"') == 1
    assert 'class="badge coupon"' in sneaker.content.decode()
    assert 'class="badge coupon"' not in cup.content.decode()


def test_the_campaigns_reach_is_kept_in_process_while_windows_and_changes_apply_at_once(
    catalog, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.coupons import services
    from apps.coupons.selectors import products_with_campaigns
    from apps.markets.models import Market

    # given: a running KR campaign on the shirt, read once
    marketer = staff("marketing_manager")
    campaign = active_campaign(actor=marketer, products=[catalog["shirt"].pk])
    kr, shirt = Market.objects.get(code="KR"), catalog["shirt"].pk
    assert products_with_campaigns(product_ids=[shirt], market=kr) == {shirt}
    # when read again: from this process's copy, no query
    with CaptureQueriesContext(connection) as queries:
        assert products_with_campaigns(product_ids=[shirt], market=kr) == {shirt}
    assert len(queries) == 0
    # then: its end applies at the call, with no write in between
    assert products_with_campaigns(product_ids=[shirt], market=kr, now=campaign.ends_at) == set()
    # and a pause through the service drops the copy when it commits
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_transition(campaign_id=campaign.pk, to_status="paused", actor=marketer)
    assert products_with_campaigns(product_ids=[shirt], market=kr) == set()
