"""Demo seed (idempotent) and the bulk benchmark seed."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from apps.catalog import demo as catalog_demo
from apps.catalog.models import Category, MarketPrice, Product, ProductListing, ProductSalesDaily, Sku
from apps.inventory import demo as inventory_demo
from apps.inventory.models import StockLevel, Warehouse

pytestmark = pytest.mark.django_db


def test_demo_seed_builds_a_bilingual_catalog_once():
    out = io.StringIO()
    catalog_demo.seed(stdout=out)
    inventory_demo.seed(stdout=out)
    counts = (Product.objects.count(), StockLevel.objects.count(), ProductSalesDaily.objects.count())
    # then
    assert counts[0] == 240
    assert Category.objects.filter(parent__isnull=False).count() >= 15
    assert not Product.objects.filter(name_ko="").exists() and not Product.objects.filter(name_en="").exists()
    assert set(Warehouse.objects.values_list("code", flat=True)) == {"KR-ICN1", "KR-BSN1", "US-NJ1"}
    assert ProductListing.objects.filter(market_id="US", from_fx=True).exists()  # US prices missing -> FX
    assert MarketPrice.objects.filter(sale_price__isnull=False).exists()
    # realistic names: no trailing number ("샴푸 83"), all distinct, many brands
    names_ko = list(Product.objects.values_list("name_ko", flat=True))
    names_en = list(Product.objects.values_list("name_en", flat=True))
    assert not [n for n in names_ko + names_en if re.search(r"\d$", n)]
    assert len(set(names_ko)) == len(set(names_en)) == 240
    assert Product.objects.values("brand").distinct().count() >= 20
    assert "어반핏 에센셜 운동화" in names_ko and "UrbanFit Essential Sneakers" in names_en
    # when seeded again
    catalog_demo.seed(stdout=out)
    inventory_demo.seed(stdout=out)
    # then nothing new
    assert (Product.objects.count(), StockLevel.objects.count(), ProductSalesDaily.objects.count()) == counts


def test_seed_catalog_command_tops_up_to_the_requested_size(client):
    call_command("seed_catalog", "--products", "30", stdout=io.StringIO())
    call_command("seed_catalog", "--products", "40", stdout=io.StringIO())
    assert Product.objects.count() == 40
    assert ProductListing.objects.filter(market_id="KR").count() == 40
    assert StockLevel.objects.count() == 3 * Sku.objects.count()
    body = client.get("/api/v1/products/popular").json()
    assert len(body) == 5


def test_reseeding_renames_products_seeded_with_numbered_names():
    out = io.StringIO()
    catalog_demo.seed(stdout=out)
    fresh = {p.pk: (p.name_ko, p.name_en, p.brand_id) for p in Product.objects.all()}
    # given a catalog seeded before issue 15 ("<brand> <adjective> <noun> <number>")
    first = Product.objects.order_by("pk").first()
    Product.objects.filter(pk=first.pk).update(
        name_ko="주픽 프리미엄 운동화 1", name_en="Joopick Premium Sneakers 1"
    )
    # when seeded again
    catalog_demo.seed(stdout=out)
    # then it gets exactly the name a fresh seed gives it, and nothing else changed
    assert {p.pk: (p.name_ko, p.name_en, p.brand_id) for p in Product.objects.all()} == fresh
    assert "1 demo products renamed" in out.getvalue()
    catalog_demo.seed(stdout=out)
    assert out.getvalue().count("renamed") == 1  # idempotent
