"""GET /products/popular: top 5 of the market over the last 3 market-local days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import ProductSalesDaily
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _today(tz):
    return timezone.now().astimezone(ZoneInfo(tz)).date()


def _sold(product, market, days_ago, units, tz="Asia/Seoul"):
    ProductSalesDaily.objects.create(
        product=product, market_id=market, date=_today(tz) - dt.timedelta(days=days_ago), units=units
    )


def test_top_five_by_units_over_the_last_three_local_days(api_client):
    # given seven products; sales today, 2 days ago (counted) and 3 days ago (not counted)
    p = [ProductFactory(kr=1000) for _ in range(7)]
    _sold(p[0], "KR", 0, 10)
    _sold(p[1], "KR", 2, 30)
    _sold(p[2], "KR", 1, 5)
    _sold(p[2], "KR", 0, 5)
    _sold(p[3], "KR", 3, 1000)  # outside the window
    _sold(p[4], "KR", 0, 1)
    _sold(p[5], "KR", 1, 2)
    _sold(p[6], "KR", 0, 3)
    _sold(p[3], "US", 0, 500, tz="America/New_York")  # another market
    # when
    body = api_client.get("/api/v1/products/popular", HTTP_X_MARKET="KR").json()
    # then
    assert [r["id"] for r in body] == [p[1].pk, p[0].pk, p[2].pk, p[6].pk, p[5].pk]


def test_popular_is_per_market(api_client):
    a, b = ProductFactory(kr=1000), ProductFactory(kr=1000)
    services.product_sales_record(product_id=a.pk, market_code="KR", units=3)
    services.product_sales_record(product_id=b.pk, market_code="US", units=3)
    assert [r["id"] for r in api_client.get("/api/v1/products/popular", HTTP_X_MARKET="US").json()] == [b.pk]
    us_row = api_client.get("/api/v1/products/popular", HTTP_X_MARKET="US").json()[0]
    assert us_row["price"]["currency"] == "USD"


def test_popular_is_cached_briefly(api_client, django_assert_num_queries):
    a = ProductFactory(kr=1000)
    services.product_sales_record(product_id=a.pk, market_code="KR", units=3)
    api_client.get("/api/v1/products/popular")  # fills the cache
    # the ranking comes from the cache: only listings and stock are read (the running coupon
    # campaigns come from the process's copy the first call read)
    with django_assert_num_queries(2):
        body = api_client.get("/api/v1/products/popular").json()
    assert [r["id"] for r in body] == [a.pk]


def test_recording_a_sale_adds_to_the_market_local_day():
    product = ProductFactory(kr=1000)
    # 23:30 UTC on Jan 1 is already Jan 2 in Seoul
    at = dt.datetime(2026, 1, 1, 23, 30, tzinfo=dt.UTC)
    services.product_sales_record(product_id=product.pk, market_code="KR", units=2, at=at)
    services.product_sales_record(product_id=product.pk, market_code="KR", units=3, at=at)
    row = ProductSalesDaily.objects.get(product=product, market_id="KR")
    assert (row.date, row.units) == (dt.date(2026, 1, 2), 5)
