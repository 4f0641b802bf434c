"""``manage.py seed_catalog --products 10000``: a large catalog for the benchmark, fast, with
stock and sales.

On PostgreSQL the rows go in with ``COPY`` (products, SKUs, prices: the same deterministic
rows as :func:`apps.catalog.demo.generate_products`: names, brands, translations, search
documents, sales, FX gaps) and ``INSERT … SELECT`` (stock levels and their opening
movements: the formula of :func:`apps.inventory.demo.stock_missing_skus`); listings come
from the catalog's own ``listings_refresh``. 200,000 products (~500,000 SKUs, 1.5 M stock
levels) take a few minutes instead of half an hour. Other databases (SQLite in the tests)
take the ORM path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any, cast

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from apps.catalog import demo as catalog_demo
from apps.catalog import services as catalog_services
from apps.catalog.models import MarketPrice, Product, Sku
from apps.core import clock
from apps.inventory import demo as inventory_demo
from apps.inventory.models import StockLevel, StockMovement
from apps.markets.selectors import market_list

PREFIX = "BK"
#: The tables a large seed fills.
BULK_TABLES = [
    Product._meta.db_table,
    Sku._meta.db_table,
    MarketPrice._meta.db_table,
    "catalog_productlisting",
    StockLevel._meta.db_table,
    StockMovement._meta.db_table,
]
#: Products per COPY round (and per ``listings_refresh`` call).
BATCH = 10000


class Command(BaseCommand):
    help = "Generate N catalog products (with SKUs, KR/US prices, stock, sales) for benchmarks."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--products", type=int, default=10000)

    def handle(self, *args: object, **options: object) -> None:
        target = int(options["products"])  # type: ignore[call-overload]
        started = time.monotonic()
        existing = Sku.objects.filter(code__startswith=f"{PREFIX}-", position=0).count()
        missing = max(0, target - existing)
        fast = connection.vendor == "postgresql"
        with transaction.atomic():
            if fast:
                # Loading into (nearly) empty tables: build their secondary indexes once at
                # the end instead of row by row (the listings alone have eleven).
                deferred = missing > max(existing, BATCH)
                with indexes_deferred(BULK_TABLES if deferred else []):
                    ids = copy_products(count=missing, prefix=PREFIX, start=existing) if missing else []
                    stock = stock_missing_skus_sql()
            else:
                ids = (
                    catalog_demo.generate_products(count=missing, prefix=PREFIX, start=existing)
                    if missing
                    else []
                )
                stock = inventory_demo.stock_missing_skus()
            if ids:
                catalog_demo.seed_sales(product_ids=ids)
        if fast:
            # Fresh statistics so the first benchmark requests get the indexed plans.
            with connection.cursor() as cursor:
                for table in (
                    "catalog_product",
                    "catalog_productlisting",
                    "catalog_sku",
                    "catalog_marketprice",
                    "inventory_stocklevel",
                    "inventory_stockmovement",
                    "catalog_productsalesdaily",
                ):
                    cursor.execute(f"ANALYZE {table}")
        self.stdout.write(
            f"seed_catalog: {len(ids)} new products ({existing} existed), {stock} stock levels, "
            f"{time.monotonic() - started:.1f}s"
        )


# --- PostgreSQL bulk path ----------------------------------------------------------------


@contextlib.contextmanager
def indexes_deferred(tables: Sequence[str]) -> Iterator[None]:
    """Drop the ``tables``' plain secondary indexes (not primary keys, unique indexes or
    those behind constraints, which the load must check) and create them again, with
    their exact definitions, on the way out. In the caller's transaction."""
    if not tables:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """,
            [list(tables)],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        # Django's foreign keys are checked at commit; an index cannot be built on a
        # table with checks pending, so run them now and defer again afterwards.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _name, definition in indexes:
            cursor.execute(definition)


def _reserve_ids(table: str, count: int) -> list[int]:
    """``count`` ids from the table's identity sequence (COPY returns none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
        )
        return [int(row[0]) for row in cursor.fetchall()]


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def copy_products(*, count: int, prefix: str, start: int = 0, seed: int = 4, batch: int = BATCH) -> list[int]:
    """The rows of ``catalog_demo.generate_products(count, prefix, start, seed)`` (the same
    names, search documents, SKUs and prices: same numbering, same random draws), written
    with COPY; listings by ``listings_refresh``. Returns the new product ids."""
    rng = random.Random(seed + start)
    leaves, brands = catalog_demo.ensure_categories_and_brands()
    markets = {m.code for m in market_list()}
    now = clock.now()
    ids: list[int] = []
    for chunk_start in range(start, start + count, batch):
        chunk_end = min(start + count, chunk_start + batch)
        product_ids = _reserve_ids(Product._meta.db_table, chunk_end - chunk_start)
        products: list[tuple[Any, ...]] = []
        plans: list[tuple[int, int, int, str]] = []  # (product id, number, base price, option kind)
        for pid, n in zip(product_ids, range(chunk_start, chunk_end), strict=True):
            leaf, spec, _top = leaves[n % len(leaves)]
            base = spec[3][(n // len(leaves)) % len(spec[3])][2]
            p = SimpleNamespace()
            catalog_demo._name(cast(Product, p), n, leaves, brands)
            products.append(
                (
                    pid, p.slug, p.name_en, p.name_ko, p.name_en, p.description_en, p.description_ko,
                    p.description_en, "", 5 if base > 500000 else 10, n % 3 != 0, False, True,
                    p.search_document, now, now, p.brand.pk, leaf.pk,
                )
            )  # fmt: skip
            price = catalog_demo._round(base * (0.8 + rng.random() * 0.5), 100)
            plans.append((pid, n, price, spec[4]))
        _copy(
            Product._meta.db_table,
            [
                "id", "slug", "name", "name_ko", "name_en", "description", "description_ko",
                "description_en", "image_url", "max_per_order", "rocket_delivery", "is_featured",
                "is_active", "search_document", "created_at", "updated_at", "brand_id", "category_id",
            ],
            products,
        )  # fmt: skip
        skus: list[tuple[Any, ...]] = []
        sku_plans: list[tuple[int, int, float]] = []  # (number, base price, pack factor)
        for pid, n, base, kind in plans:
            for position, options in enumerate(catalog_demo.OPTIONS[kind]):
                skus.append(
                    (f"{prefix}-{n + 1:06d}-{position + 1}", json.dumps(options), position, True, pid)
                )
                factor = max([catalog_demo.PACK_FACTOR.get(v, 1.0) for v in options.values()] or [1.0])
                sku_plans.append((n, base, factor))
        sku_ids = _reserve_ids(Sku._meta.db_table, len(skus))
        _copy(
            Sku._meta.db_table,
            ["id", "code", "options", "position", "is_active", "product_id"],
            ((sku_id, *row) for sku_id, row in zip(sku_ids, skus, strict=True)),
        )
        _copy(
            MarketPrice._meta.db_table,
            ["currency", "list_price", "sale_price", "sale_starts_at", "sale_ends_at", "updated_at", "market_id",
             "sku_id"],
            _price_rows(sku_ids, sku_plans, markets, now),
        )  # fmt: skip
        catalog_services.listings_refresh(product_ids=product_ids, now=now)
        ids.extend(product_ids)
    return ids


def _price_rows(
    sku_ids: list[int], plans: list[tuple[int, int, float]], markets: set[str], now: dt.datetime
) -> Iterable[tuple[Any, ...]]:
    """KR and US prices by the rules of ``generate_products``."""
    round_ = catalog_demo._round
    for sku_id, (n, base, factor) in zip(sku_ids, plans, strict=True):
        krw = round_(base * factor, 100)
        if n % 4 == 1:
            ends = now + (dt.timedelta(hours=3 + n % 12) if n % 8 == 1 else dt.timedelta(days=5))
            sale = round_(krw * (0.7 + (n % 3) * 0.1), 10)
            yield ("KRW", krw, sale, now - dt.timedelta(days=1), ends, now, "KR", sku_id)
        else:
            yield ("KRW", krw, None, None, None, now, "KR", sku_id)
        if n % 7 != 3 and "US" in markets:
            usd = round_(krw / catalog_demo.KRW_PER_USD * 100 * 1.08, 1) - 1  # x.99 style
            usd = max(99, usd - usd % 100 + 99)
            if n % 6 == 2:
                us_ends = now + dt.timedelta(hours=5 + n % 30)
                yield (
                    "USD",
                    usd,
                    round_(usd * 0.8, 1),
                    now - dt.timedelta(hours=2),
                    us_ends,
                    now,
                    "US",
                    sku_id,
                )
            else:
                yield ("USD", usd, None, None, None, now, "US", sku_id)


def stock_missing_skus_sql() -> int:
    """``inventory_demo.stock_missing_skus`` in two statements: a stock level in every
    warehouse for each SKU without any (same quantities), and a ``receipt`` movement
    ("Opening count") for each positive one, as ``stock_levels_bulk_create`` writes."""
    warehouses = [wh.pk for wh in inventory_demo.ensure_warehouses()]
    now = clock.now()
    level, movement = StockLevel._meta.db_table, StockMovement._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH levels AS (
                INSERT INTO {level} (sku_id, warehouse_id, on_hand, reserved, updated_at)
                SELECT s.id, w.id,
                       CASE WHEN w.ord = 2 AND s.id %% 5 <> 0 THEN 0
                            WHEN (s.id * 31 + (w.ord - 1) * 7) %% 20 = 0 THEN 0
                            WHEN (s.id * 31 + (w.ord - 1) * 7) %% 20 = 1 THEN 3
                            ELSE 20 + (s.id * 13 + (w.ord - 1)) %% 180 END,
                       0, %(now)s
                FROM {Sku._meta.db_table} s
                CROSS JOIN unnest(%(warehouses)s::bigint[]) WITH ORDINALITY AS w(id, ord)
                WHERE NOT EXISTS (SELECT 1 FROM {level} l WHERE l.sku_id = s.id)
                ORDER BY s.id, w.ord
                RETURNING id, sku_id, warehouse_id, on_hand
            ), movements AS (
                INSERT INTO {movement} (stock_level_id, sku_id, warehouse_id, delta, kind, on_hand_before,
                                        on_hand_after, reason, reference, created_at)
                SELECT id, sku_id, warehouse_id, on_hand, %(kind)s, 0, on_hand, 'Opening count', '', %(now)s
                FROM levels WHERE on_hand > 0 ORDER BY id
            )
            SELECT count(*) FROM levels
            """,  # noqa: S608
            {"now": now, "warehouses": warehouses, "kind": StockMovement.Kind.RECEIPT},
        )
        return int(cursor.fetchone()[0])
