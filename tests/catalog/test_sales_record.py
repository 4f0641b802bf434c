"""An order's sales counters in two statements: the day's units per product (added to
what the day had, or a new row) and each listing's popularity over the window."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import ProductListing, ProductSalesDaily
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _kr_today() -> dt.date:
    return timezone.now().astimezone(ZoneInfo("Asia/Seoul")).date()


def test_an_orders_products_are_counted_and_ranked_in_two_statements(django_assert_num_queries):
    # given: one product sold yesterday and today already, one never sold, one not in the order
    sold, new, other = ProductFactory(kr=1000), ProductFactory(kr=1000), ProductFactory(kr=1000)
    today = _kr_today()
    ProductSalesDaily.objects.create(product=sold, market_id="KR", date=today, units=4)
    ProductSalesDaily.objects.create(product=sold, market_id="KR", date=today - dt.timedelta(days=1), units=6)
    ProductListing.objects.filter(product=other, market_id="KR").update(popularity=7)

    # when: an order of both is recorded in the caller's transaction
    with transaction.atomic(), django_assert_num_queries(2):
        services.products_sales_record(market_code="KR", units={new.pk: 1, sold.pk: 2})

    # then: today's units added, a row for the new one; popularity = units over the window
    units = dict(ProductSalesDaily.objects.filter(date=today).values_list("product_id", "units"))
    assert units == {sold.pk: 6, new.pk: 1}
    popularity = dict(
        ProductListing.objects.filter(market_id="KR", product__in=[sold, new, other]).values_list(
            "product_id", "popularity"
        )
    )
    assert popularity == {sold.pk: 12, new.pk: 1, other.pk: 7}
