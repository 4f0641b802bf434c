"""GET /inventory/availability and the stock invariant."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from apps.inventory.models import StockLevel
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked():
    product = ProductFactory(kr=1000, skus=2)
    a, b = product.skus.order_by("position")
    kr1 = WarehouseFactory(code="KR-1", market_id="KR")
    kr2 = WarehouseFactory(code="KR-2", market_id="KR")
    us = WarehouseFactory(code="US-1", market_id="US")
    StockLevelFactory(sku=a, warehouse=kr1, on_hand=10, reserved=4)
    StockLevelFactory(sku=a, warehouse=kr2, on_hand=3, reserved=0)
    StockLevelFactory(sku=a, warehouse=us, on_hand=50, reserved=5)
    StockLevelFactory(sku=b, warehouse=kr1, on_hand=1, reserved=1)
    return a, b


def test_available_is_on_hand_minus_reserved_over_the_market_warehouses(api_client, stocked):
    a, b = stocked
    kr = api_client.get(f"/api/v1/inventory/availability?sku={a.code}&sku={b.code}&sku=NOPE").json()
    us = api_client.get(f"/api/v1/inventory/availability?sku={a.code}", HTTP_X_MARKET="US").json()
    assert kr == {
        "items": [
            {"sku": a.code, "available": 9, "market": "KR"},
            {"sku": b.code, "available": 0, "market": "KR"},
            {"sku": "NOPE", "available": 0, "market": "KR"},
        ]
    }
    assert us == {"items": [{"sku": a.code, "available": 45, "market": "US"}]}


def test_inactive_warehouses_do_not_count(api_client, stocked):
    a, _ = stocked
    WarehouseFactory(code="KR-2").__class__.objects.filter(code="KR-2").update(is_active=False)
    body = api_client.get(f"/api/v1/inventory/availability?sku={a.code}").json()
    assert body["items"][0]["available"] == 6


def test_availability_is_one_query(api_client, stocked, django_assert_num_queries):
    a, b = stocked
    api_client.get("/api/v1/categories")  # markets cached
    with django_assert_num_queries(1):
        api_client.get(f"/api/v1/inventory/availability?sku={a.code}&sku={b.code}")


def test_sku_is_required(api_client):
    response = api_client.get("/api/v1/inventory/availability")
    assert response.status_code == 400
    assert response.json()["code"] == "request.invalid"


def test_at_most_100_skus(api_client):
    query = "&".join(f"sku=S{i}" for i in range(101))
    response = api_client.get(f"/api/v1/inventory/availability?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "inventory.too_many_skus"


@pytest.mark.parametrize(("on_hand", "reserved"), [(5, 6), (5, -1), (-1, 0)])
def test_database_refuses_reserved_outside_zero_to_on_hand(stocked, on_hand, reserved):
    a, _ = stocked
    level = StockLevel.objects.filter(sku=a).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(on_hand=on_hand, reserved=reserved)
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (10, 4)


def test_inactive_skus_and_products_are_not_available(api_client, stocked):
    # given stock on both SKUs; then SKU b is withdrawn, and later the whole product
    a, b = stocked
    StockLevel.objects.filter(sku=b).update(on_hand=5, reserved=0)
    b.__class__.objects.filter(pk=b.pk).update(is_active=False)
    url = f"/api/v1/inventory/availability?sku={a.code}&sku={b.code}"
    # when / then: the withdrawn SKU answers 0 while its stock rows stay untouched
    assert [i["available"] for i in api_client.get(url).json()["items"]] == [9, 0]
    a.product.__class__.objects.filter(pk=a.product_id).update(is_active=False)
    assert [i["available"] for i in api_client.get(url).json()["items"]] == [0, 0]
    assert StockLevel.objects.get(sku=b).on_hand == 5
