"""``manage.py seed_catalog --products 10000``: a large catalog for the benchmark, fast
(bulk inserts, search documents and listings computed in Python), with stock and sales."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from apps.catalog import demo as catalog_demo
from apps.catalog.models import Sku
from apps.inventory import demo as inventory_demo

PREFIX = "BK"


class Command(BaseCommand):
    help = "Generate N catalog products (with SKUs, KR/US prices, stock, sales) for benchmarks."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--products", type=int, default=10000)

    def handle(self, *args: object, **options: object) -> None:
        target = int(options["products"])  # type: ignore[call-overload]
        started = time.monotonic()
        existing = Sku.objects.filter(code__startswith=f"{PREFIX}-", position=0).count()
        missing = max(0, target - existing)
        with transaction.atomic():
            ids = (
                catalog_demo.generate_products(count=missing, prefix=PREFIX, start=existing)
                if missing
                else []
            )
            stock = inventory_demo.stock_missing_skus()
            if ids:
                catalog_demo.seed_sales(product_ids=ids)
        if connection.vendor == "postgresql":
            # Fresh statistics so the first benchmark requests get the indexed plans.
            with connection.cursor() as cursor:
                for table in (
                    "catalog_product",
                    "catalog_productlisting",
                    "catalog_sku",
                    "catalog_marketprice",
                    "inventory_stocklevel",
                    "catalog_productsalesdaily",
                ):
                    cursor.execute(f"ANALYZE {table}")
        self.stdout.write(
            f"seed_catalog: {len(ids)} new products ({existing} existed), {stock} stock levels, "
            f"{time.monotonic() - started:.1f}s"
        )
