"""Catalog write use-cases. Every write that changes what a list shows (names, category,
prices, activity) ends by refreshing the product's search document and its per-market
listing rows, in the same transaction: there are no signals doing it behind one's back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from apps.catalog import pricing, readcache, search
from apps.catalog.errors import SkuCodeTaken
from apps.catalog.models import (
    Brand,
    Category,
    MarketPrice,
    Product,
    ProductListing,
    ProductSalesDaily,
    Sku,
)
from apps.catalog.selectors import (
    CATEGORY_TREE_KEY,
    POPULAR_KEY,
    category_subtree_ids,
    category_tree_forget_local,
    hidden_category_ids,
    market_today,
)
from apps.core import clock
from apps.markets.models import Market
from apps.markets.selectors import market_get, market_list

CHUNK = 2000


@dataclass
class PriceSpec:
    list_price: int
    sale_price: int | None = None
    sale_starts_at: dt.datetime | None = None
    sale_ends_at: dt.datetime | None = None


@dataclass
class SkuSpec:
    code: str
    options: dict[str, str] = field(default_factory=dict)
    prices: dict[str, PriceSpec] = field(default_factory=dict)  # market code -> price


# --- Categories and brands ---------------------------------------------------------------


def category_cache_clear() -> None:
    cache.delete(CATEGORY_TREE_KEY)
    readcache.catalog_changed()
    category_tree_forget_local()


@transaction.atomic
def category_create(
    *, slug: str, name_ko: str, name_en: str, parent: Category | None = None, position: int = 0
) -> Category:
    category = Category.objects.create(
        slug=slug, name_ko=name_ko, name_en=name_en, parent=parent, position=position
    )
    transaction.on_commit(category_cache_clear)
    return category


def brand_create(*, slug: str, name_ko: str, name_en: str) -> Brand:
    return Brand.objects.create(slug=slug, name_ko=name_ko, name_en=name_en)


# --- Products -------------------------------------------------------------------------------


def search_document_for(product: Product, brand: Brand | None, category: Category) -> str:
    return search.build_document(
        [
            product.name_ko or "",
            product.name_en or "",
            brand.name_ko or "" if brand else "",
            brand.name_en or "" if brand else "",
            category.name_ko or "",
            category.name_en or "",
            product.description_ko or "",
            product.description_en or "",
        ]
    )


def _price_fields(market: Market, spec: PriceSpec) -> dict[str, Any]:
    return {
        "currency": market.currency,
        "list_price": spec.list_price,
        "sale_price": spec.sale_price,
        "sale_starts_at": spec.sale_starts_at,
        "sale_ends_at": spec.sale_ends_at,
    }


@transaction.atomic
def product_create(
    *,
    category: Category,
    name_ko: str,
    name_en: str,
    skus: list[SkuSpec],
    description_ko: str = "",
    description_en: str = "",
    brand: Brand | None = None,
    slug: str = "",
    image_url: str = "",
    max_per_order: int = 10,
    rocket_delivery: bool = False,
    is_active: bool = True,
) -> Product:
    """Create a product with its SKUs and market prices, indexed for search and lists.

    Raises: catalog.sku_code_taken.
    """
    from django.utils.text import slugify

    product = Product(
        category=category,
        brand=brand,
        name_ko=name_ko,
        name_en=name_en,
        description_ko=description_ko,
        description_en=description_en,
        slug=slug or slugify(name_en or name_ko, allow_unicode=True)[:160] or "product",
        image_url=image_url,
        max_per_order=max_per_order,
        rocket_delivery=rocket_delivery,
        is_active=is_active,
    )
    product.search_document = search_document_for(product, brand, category)
    product.save()
    markets = {m.code: m for m in market_list()}
    for position, spec in enumerate(skus):
        try:
            with transaction.atomic():
                sku = Sku.objects.create(
                    product=product, code=spec.code, options=spec.options, position=position
                )
        except IntegrityError as exc:
            raise SkuCodeTaken(sku=spec.code) from exc
        for code, price in spec.prices.items():
            MarketPrice.objects.create(sku=sku, market=markets[code], **_price_fields(markets[code], price))
    listings_refresh(product_ids=[product.pk])
    return product


PRODUCT_FIELDS = {
    "name_ko",
    "name_en",
    "description_ko",
    "description_en",
    "category",
    "brand",
    "image_url",
    "max_per_order",
    "rocket_delivery",
    "is_featured",
    "is_active",
    "slug",
}


@transaction.atomic
def product_update(*, product: Product, **changes: Any) -> Product:
    """Change product fields (names, flags, category...) and re-index it."""
    unknown = set(changes) - PRODUCT_FIELDS
    if unknown:
        raise TypeError(f"unknown product fields: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(product, name, value)
    product.save()
    products_reindex(product_ids=[product.pk])
    return product


@transaction.atomic
def market_price_set(
    *,
    sku: Sku,
    market: Market,
    list_price: int,
    sale_price: int | None = None,
    sale_starts_at: dt.datetime | None = None,
    sale_ends_at: dt.datetime | None = None,
) -> MarketPrice:
    """Create or replace a SKU's price in a market and refresh the product's listings."""
    spec = PriceSpec(list_price, sale_price, sale_starts_at, sale_ends_at)
    price, _ = MarketPrice.objects.update_or_create(
        sku=sku, market=market, defaults=_price_fields(market, spec)
    )
    listings_refresh(product_ids=[sku.product_id])
    return price


@transaction.atomic
def market_price_delete(*, sku: Sku, market: Market) -> None:
    """Drop an explicit price: the market falls back to FX from the base market."""
    MarketPrice.objects.filter(sku=sku, market=market).delete()
    listings_refresh(product_ids=[sku.product_id])


def products_reindex(*, product_ids: Iterable[int]) -> None:
    """Rewrite the search documents and listing rows of ``product_ids`` (caller's transaction)."""
    ids = list(product_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        products = list(Product.objects.filter(pk__in=chunk).select_related("brand", "category"))
        for product in products:
            product.search_document = search_document_for(product, product.brand, product.category)
        Product.objects.bulk_update(products, ["search_document"], batch_size=500)
    listings_refresh(product_ids=ids)


def category_products_reindex(*, category_id: int) -> None:
    """After a category edit: reindex the products of the category and of every category
    under it (a parent switched off hides its whole subtree). Caller's transaction."""
    subtree = category_subtree_ids(category_id=category_id)
    products_reindex(
        product_ids=list(Product.objects.filter(category_id__in=subtree).values_list("pk", flat=True))
    )


# --- Listings (the denormalized rows product lists page on) --------------------------------


def listings_refresh(*, product_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Recompute the (product, market) listing rows of ``product_ids``: the cheapest active
    SKU's effective price (FX fallback included), its list/sale prices, the next sale
    boundary, category and activity. Popularity is kept. Returns rows written.

    Locks: none; the caller's transaction makes the rewrite atomic. A concurrent refresh
    of the same product writes the same values (last one wins). After the commit, every
    cached read is stale (``readcache.catalog_changed``): this is where price, sale and
    product edits all end.
    """
    now = now or clock.now()
    ids = sorted(set(product_ids))
    readcache.catalog_changed()
    markets = market_list()
    hidden = hidden_category_ids()  # off, or under a parent that is off
    written = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        products = {
            p["id"]: p
            for p in Product.objects.filter(pk__in=chunk).values(
                "id", "category_id", "is_active", "created_at"
            )
        }
        rows: dict[int, dict[int, dict[str, pricing.PriceRow]]] = {}
        for mp in MarketPrice.objects.filter(sku__product_id__in=chunk, sku__is_active=True).values_list(
            "sku__product_id",
            "sku_id",
            "market_id",
            "currency",
            "list_price",
            "sale_price",
            "sale_starts_at",
            "sale_ends_at",
        ):
            rows.setdefault(mp[0], {}).setdefault(mp[1], {})[mp[2]] = pricing.PriceRow(*mp[3:])
        existing = {
            (row.product_id, row.market_id): row
            for row in ProductListing.objects.filter(product_id__in=chunk)
        }
        to_create: list[ProductListing] = []
        to_update: list[ProductListing] = []
        keep: set[tuple[int, str]] = set()
        for pid, product in products.items():
            for market in markets:
                best: tuple[int, int, pricing.PriceRow, bool] | None = None
                boundary: dt.datetime | None = None
                for sku_id, by_market in sorted(rows.get(pid, {}).items()):
                    resolved = pricing.resolve_row(by_market, market)
                    if resolved is None:
                        continue
                    row, from_fx = resolved
                    price = pricing.effective(row, now).price.amount
                    if best is None or (price, sku_id) < (best[0], best[1]):
                        best = (price, sku_id, row, from_fx)
                    nb = pricing.next_boundary(row, now)
                    if nb is not None and (boundary is None or nb < boundary):
                        boundary = nb
                if best is None:
                    continue
                price, _sku_id, row, from_fx = best
                values = {
                    "category_id": product["category_id"],
                    "is_active": bool(product["is_active"] and product["category_id"] not in hidden),
                    "currency": row.currency,
                    "price": price,
                    "list_price": row.list_price,
                    "sale_price": row.sale_price,
                    "sale_starts_at": row.sale_starts_at,
                    "sale_ends_at": row.sale_ends_at,
                    "price_valid_until": boundary,
                    "from_fx": from_fx,
                    "created_at": product["created_at"],
                }
                key = (pid, market.code)
                keep.add(key)
                listing = existing.get(key)
                if listing is None:
                    to_create.append(ProductListing(product_id=pid, market_id=market.code, **values))
                else:
                    for name, value in values.items():
                        setattr(listing, name, value)
                    to_update.append(listing)
        stale = [row.pk for key, row in existing.items() if key not in keep]
        if stale:
            ProductListing.objects.filter(pk__in=stale).delete()
        ProductListing.objects.bulk_create(to_create, batch_size=1000)
        if to_update:
            ProductListing.objects.bulk_update(
                to_update,
                [
                    "category_id",
                    "is_active",
                    "currency",
                    "price",
                    "list_price",
                    "sale_price",
                    "sale_starts_at",
                    "sale_ends_at",
                    "price_valid_until",
                    "from_fx",
                    "created_at",
                ],
                batch_size=500,
            )
        written += len(to_create) + len(to_update)
    return written


def listings_refresh_due(*, now: dt.datetime | None = None) -> int:
    """Refresh listings whose sale started or ended since their last refresh, and those
    priced by FX (rates move). Run by beat every minute."""
    now = now or clock.now()
    ids = set(
        ProductListing.objects.filter(price_valid_until__lte=now).values_list("product_id", flat=True)
    ) | set(ProductListing.objects.filter(from_fx=True).values_list("product_id", flat=True))
    if not ids:
        return 0
    with transaction.atomic():
        return listings_refresh(product_ids=ids, now=now)


# --- Sales and popularity ------------------------------------------------------------------


@transaction.atomic
def product_sales_record(
    *, product_id: int, market_code: str, units: int, at: dt.datetime | None = None
) -> None:
    """Add ``units`` sold of one product, as its own transaction: see ``products_sales_record``."""
    products_sales_record(market_code=market_code, units={product_id: units}, at=at)


def products_sales_record(
    *, market_code: str, units: Mapping[int, int], at: dt.datetime | None = None
) -> None:
    """Add the units sold of each product (``{product_id: units}``: a paid order's lines)
    to its market-local day and update the products' popularity. Called by the order flow
    on payment. Two statements for all the products, whatever their number: an upsert of
    the day's counters and one UPDATE of the listings' popularity (the sum over the
    popularity window, as ``popularity_refresh`` computes it); the market's "popular"
    cache is dropped once, after commit. Runs in the caller's transaction (the payment's).

    Locks: the products' day rows (the upsert, in product order), then their listing rows
    (PostgreSQL: locked in product order by the UPDATE's subquery), so two payments of the
    same products never deadlock. No read-modify-write: the counter moves in the statement.
    """
    from django.conf import settings

    assert connection.in_atomic_block, "products_sales_record() runs in the caller's transaction"
    wanted = sorted((pid, n) for pid, n in units.items() if n)
    if not wanted:
        return
    market = market_get(market_code)
    day = market_today(market, at)
    since = day - dt.timedelta(days=settings.CATALOG_POPULAR_DAYS - 1)
    sales, listings = ProductSalesDaily._meta.db_table, ProductListing._meta.db_table
    ids = [pid for pid, _ in wanted]
    marks = ", ".join(["%s"] * len(ids))
    # Table names from the models, every value a parameter.
    locked = (
        f"AND id IN (SELECT id FROM {listings} WHERE market_id = %s AND product_id IN ({marks}) "  # noqa: S608
        "ORDER BY product_id FOR UPDATE)"
        if connection.vendor == "postgresql"
        else ""
    )
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(wanted))
    upsert = (
        f"INSERT INTO {sales} (product_id, market_id, date, units) VALUES {rows} "  # noqa: S608
        f"ON CONFLICT (product_id, market_id, date) DO UPDATE SET units = {sales}.units + excluded.units"
    )
    popularity = (
        f"UPDATE {listings} SET popularity = COALESCE((SELECT SUM(s.units) FROM {sales} s "  # noqa: S608
        f"WHERE s.product_id = {listings}.product_id AND s.market_id = %s AND s.date >= %s), 0) "
        f"WHERE market_id = %s AND product_id IN ({marks}) {locked}"
    )
    with connection.cursor() as cursor:
        cursor.execute(upsert, [value for pid, n in wanted for value in (pid, market.code, day, n)])
        params: list[Any] = [market.code, since, market.code, *ids]
        cursor.execute(popularity, params + ([market.code, *ids] if locked else []))
    transaction.on_commit(partial(cache.delete, POPULAR_KEY.format(market=market.code)))


def popularity_refresh(*, now: dt.datetime | None = None) -> int:
    """Recompute every listing's popularity (units over the last N market-local days):
    the window slides each day even when nothing is sold. Run daily by beat."""
    from django.conf import settings

    changed = 0
    for market in market_list():
        today = market_today(market, now)
        since = today - dt.timedelta(days=settings.CATALOG_POPULAR_DAYS - 1)
        totals = dict(
            ProductSalesDaily.objects.filter(market_id=market.code, date__gte=since, date__lte=today)
            .values("product_id")
            .annotate(total=Sum("units"))
            .values_list("product_id", "total")
        )
        with transaction.atomic():
            changed += (
                ProductListing.objects.filter(market_id=market.code)
                .exclude(product_id__in=list(totals))
                .exclude(popularity=0)
                .update(popularity=0)
            )
            rows = list(ProductListing.objects.filter(market_id=market.code, product_id__in=list(totals)))
            for row in rows:
                row.popularity = totals[row.product_id]
            ProductListing.objects.bulk_update(rows, ["popularity"], batch_size=1000)
            changed += len(rows)
        cache.delete(POPULAR_KEY.format(market=market.code))
    return changed
