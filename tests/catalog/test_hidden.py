"""A product hidden through its category (category switched off) is hidden everywhere:
lists, popular, detail API and page."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.catalog import services
from apps.catalog.models import Category
from tests.catalog.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hidden():
    # given five sellers and a best seller whose category staff switched off
    open_category = CategoryFactory(slug="open")
    shown = [ProductFactory(kr=1000, category=open_category) for _ in range(5)]
    product = ProductFactory(kr=1000, category=CategoryFactory(slug="closed"))
    for units, p in enumerate([*shown, product], start=1):
        services.product_sales_record(product_id=p.pk, market_code="KR", units=units * 2)
    Category.objects.filter(slug="closed").update(is_active=False)
    services.products_reindex(product_ids=[product.pk])
    services.category_cache_clear()
    cache.clear()
    return shown, product


def test_popular_is_still_a_top_five_without_products_of_a_switched_off_category(api_client, hidden):
    shown, _ = hidden
    top = [r["id"] for r in api_client.get("/api/v1/products/popular").json()]
    assert top == [p.pk for p in reversed(shown)]
    listed = [r["id"] for r in api_client.get("/api/v1/products?sort=popular").json()["results"]]
    assert listed == [p.pk for p in reversed(shown)]


def test_detail_of_a_product_in_a_switched_off_category_is_404(api_client, client, hidden):
    _, product = hidden
    response = api_client.get(f"/api/v1/products/{product.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "catalog.product_not_found"
    assert client.get(f"/p/{product.pk}/").status_code == 404


def test_switching_off_a_parent_hides_its_subtree_and_switching_on_restores_it(api_client, client):
    # given a parent category with a child holding one product
    parent = CategoryFactory(slug="fashion")
    child = CategoryFactory(slug="shoes", parent=parent)
    product = ProductFactory(kr=1000, category=child)
    assert [r["id"] for r in api_client.get("/api/v1/products?category=shoes").json()["results"]] == [
        product.pk
    ]

    # when staff switch the parent off (the admin reindexes the whole subtree)
    Category.objects.filter(pk=parent.pk).update(is_active=False)
    services.category_products_reindex(category_id=parent.pk)
    services.category_cache_clear()

    # then the child, its products and its pages are gone everywhere
    def all_slugs(nodes):
        return {n["slug"] for n in nodes} | {s for n in nodes for s in all_slugs(n["children"])}

    assert {"fashion", "shoes"}.isdisjoint(all_slugs(api_client.get("/api/v1/categories").json()))
    assert api_client.get("/api/v1/products?category=shoes").status_code == 404
    assert product.pk not in [r["id"] for r in api_client.get("/api/v1/products").json()["results"]]
    assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 404
    assert client.get("/c/shoes/").status_code == 404

    # and switching the parent back on restores them
    Category.objects.filter(pk=parent.pk).update(is_active=True)
    services.category_products_reindex(category_id=parent.pk)
    services.category_cache_clear()
    assert [r["id"] for r in api_client.get("/api/v1/products?category=shoes").json()["results"]] == [
        product.pk
    ]
    assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 200
