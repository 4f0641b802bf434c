"""Catalog reads shaped for the API and the storefront.

Every list runs a fixed number of queries whatever the page size: one for the page of
listings (product, brand and category joined) and, at the entry point, one for stock.
The category tree and the popular ranking are cached briefly; prices never are (they
are computed at request time from stored rows).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Sum, Value, When

from apps.catalog import pricing, readcache, search
from apps.catalog.errors import CategoryNotFound, ProductNotFound
from apps.catalog.keyset import Key
from apps.catalog.models import Brand, Category, MarketPrice, Product, ProductListing, ProductSalesDaily, Sku
from apps.core import clock
from apps.core.compiled import Compiled
from apps.markets.models import Market
from joopang.db_router import primary_reads, replica_reads

CATEGORY_TREE_KEY = "catalog:category-tree:v1"
POPULAR_KEY = "catalog:popular:{market}:v1"
SORTS = ("price", "-price", "popular", "newest")


# --- Categories ------------------------------------------------------------------------


@dataclass
class CategoryNode:
    id: int
    slug: str
    name_ko: str
    name_en: str
    parent_id: int | None
    children: list[CategoryNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        from django.utils import translation

        first, second = (
            (self.name_ko, self.name_en)
            if translation.get_language() == "ko"
            else (self.name_en, self.name_ko)
        )
        return first or second

    def descendant_ids(self) -> list[int]:
        ids = [self.id]
        for child in self.children:
            ids.extend(child.descendant_ids())
        return ids


@dataclass
class CategoryTree:
    roots: list[CategoryNode]
    by_id: dict[int, CategoryNode]
    by_slug: dict[str, CategoryNode]


#: A per-process copy in front of the shared cache, like ``markets.selectors.market_map``:
#: a list filtered by category reads the tree on every request, and a cache read costs a
#: Redis round trip, a new client object and an unpickle.
CATEGORY_TREE_LOCAL_SECONDS = 10
# (expires at, tree): replaced whole, so readers in other threads never see a half-built value.
_tree_local: tuple[float, CategoryTree] | None = None


def category_tree() -> CategoryTree:
    """The active category tree (cached for ``CATALOG_CATEGORY_CACHE_SECONDS``, and for
    ``CATEGORY_TREE_LOCAL_SECONDS`` in each process; ``services.category_cache_clear``, run
    after every category write, clears the shared copy and the editing process's copy, so
    other processes see the change within the local TTL)."""
    global _tree_local
    now = time.monotonic()
    local = _tree_local
    if local is not None and local[0] > now:
        return local[1]
    tree: CategoryTree | None = cache.get(CATEGORY_TREE_KEY)
    if tree is None:
        # From the primary, even inside replica_reads(): a category write clears this cache,
        # and a refill from a replica still behind would keep the old tree for the TTL.
        with primary_reads():
            rows = list(Category.objects.filter(is_active=True).order_by("position", "id"))
        by_id = {
            c.id: CategoryNode(c.id, c.slug, c.name_ko or "", c.name_en or "", c.parent_id) for c in rows
        }
        roots: list[CategoryNode] = []
        for node in by_id.values():
            parent = by_id.get(node.parent_id) if node.parent_id else None
            if parent is not None:
                parent.children.append(node)
            elif node.parent_id is None:
                roots.append(node)
        # A category is shown only when it and every ancestor are active: what hangs under
        # a switched-off category is left out (and its products are hidden, see
        # ``hidden_category_ids``).
        shown = {node_id for root in roots for node_id in root.descendant_ids()}
        by_id = {node_id: node for node_id, node in by_id.items() if node_id in shown}
        tree = CategoryTree(roots, by_id, {n.slug: n for n in by_id.values()})
        cache.set(CATEGORY_TREE_KEY, tree, settings.CATALOG_CATEGORY_CACHE_SECONDS)
    _tree_local = (now + CATEGORY_TREE_LOCAL_SECONDS, tree)
    return tree


def hidden_category_ids() -> set[int]:
    """Ids of categories that are off themselves or under an ancestor that is off (one
    query over the small category table; used when listing rows are rewritten)."""
    rows = {
        cid: (parent_id, active)
        for cid, parent_id, active in Category.objects.values_list("id", "parent_id", "is_active")
    }
    hidden: dict[int, bool] = {}

    def is_hidden(cid: int) -> bool:
        if cid not in hidden:
            parent_id, active = rows[cid]
            hidden[cid] = True  # a (broken) cycle counts as hidden
            hidden[cid] = not active or (parent_id is not None and parent_id in rows and is_hidden(parent_id))
        return hidden[cid]

    return {cid for cid in rows if is_hidden(cid)}


def category_subtree_ids(*, category_id: int) -> list[int]:
    """The category and all its descendants, active or not (for reindexing after an edit)."""
    children: dict[int | None, list[int]] = {}
    for cid, parent_id in Category.objects.values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(cid)
    ids, stack = [], [category_id]
    while stack:
        cid = stack.pop()
        if cid in ids:
            continue
        ids.append(cid)
        stack.extend(children.get(cid, []))
    return ids


def category_tree_forget_local() -> None:
    """Drop this process's copy of the tree (the shared cache is cleared by the service)."""
    global _tree_local
    _tree_local = None


def category_get(*, slug: str) -> CategoryNode:
    """Raises: catalog.category_not_found."""
    node = category_tree().by_slug.get(slug)
    if node is None:
        raise CategoryNotFound(category=slug)
    return node


# --- Product lists ---------------------------------------------------------------------


#: The columns a product card shows and the keyset orderings read, fetched as named tuples:
#: a page builds no model instances (no init signals, no translation descriptors).
LISTING_COLUMNS = (
    "product_id",
    "category_id",
    "currency",
    "price",
    "list_price",
    "sale_price",
    "sale_starts_at",
    "sale_ends_at",
    "from_fx",
    "popularity",
    "created_at",
    "product__slug",
    "product__name_ko",
    "product__name_en",
    "product__image_url",
    "product__rocket_delivery",
    "product__brand_id",
    "product__brand__slug",
    "product__brand__name_ko",
    "product__brand__name_en",
    "category__slug",
    "category__name_ko",
    "category__name_en",
)


def _listing_base(market: Market) -> QuerySet[ProductListing]:
    return ProductListing.objects.filter(market_id=market.code, is_active=True)


def _rows(qs: QuerySet[Any]) -> QuerySet[Any]:
    """Only the columns a product card shows, as named tuples (``LISTING_COLUMNS``): the
    page query stays narrow and builds no model instances."""
    return qs.values_list(*LISTING_COLUMNS, named=True)


# Per market: the active listings as rows, built once per process and only ever cloned
# (``.all()``/``.filter()``), never evaluated: resolving the 23 columns and their joins
# costs more CPU per request than cloning the finished query.
_rows_base: dict[str, QuerySet[Any]] = {}


def _listing_rows(market: Market) -> QuerySet[Any]:
    base = _rows_base.get(market.code)
    if base is None:
        base = _rows_base[market.code] = _rows(_listing_base(market))
    return base.all()


def _search_filter(qs: QuerySet[ProductListing], q: str) -> QuerySet[ProductListing]:
    tokens = search.query_tokens(q)
    if not tokens:
        return qs.none()
    indexable = all(len(t) >= 2 or not ("\uac00" <= t <= "\ud7a3") for t in tokens)
    if connection.vendor == "postgresql" and indexable:
        from django.contrib.postgres.fields import ArrayField
        from django.db.models import Func, TextField

        tokens_expr = Func(
            F("product__search_document"),
            Value(" "),
            function="string_to_array",
            output_field=ArrayField(TextField()),
        )
        # django-stubs check the alias as text; it is text[] (ArrayField), so a list is right.
        return qs.alias(_tokens=tokens_expr).filter(_tokens__contains=tokens)  # type: ignore[misc]
    condition = Q()
    for token in tokens:
        condition &= Q(product__search_document__contains=token)
    return qs.filter(condition)


def _relevance(q: str) -> Any:
    """2 points per query word found in the product name (either language), 1 in the
    brand name: names outrank descriptions."""
    score: Any = Value(0)
    for word in search.query_words(q):
        score = score + Case(
            When(Q(product__name_ko__icontains=word) | Q(product__name_en__icontains=word), then=Value(2)),
            default=Value(0),
            output_field=IntegerField(),
        )
        score = score + Case(
            When(
                Q(product__brand__name_ko__icontains=word) | Q(product__brand__name_en__icontains=word),
                then=Value(1),
            ),
            default=Value(0),
            output_field=IntegerField(),
        )
    return score


def _key_product(row: Any) -> int:
    return row.product_id


ORDERINGS: dict[str, list[Key]] = {
    "price": [Key("price", False, lambda r: r.price), Key("product_id", False, _key_product)],
    "-price": [Key("price", True, lambda r: r.price), Key("product_id", True, _key_product)],
    "popular": [Key("popularity", True, lambda r: r.popularity), Key("product_id", False, _key_product)],
    "newest": [
        Key("created_at", True, lambda r: r.created_at, kind="datetime"),
        Key("product_id", True, _key_product),
    ],
}
RELEVANCE = [
    Key("relevance", True, lambda r: r.relevance),
    Key("popularity", True, lambda r: r.popularity),
    Key("product_id", False, _key_product),
]


def _filtered(
    qs: QuerySet[Any],
    *,
    category: CategoryNode | None,
    q: str,
    min_price: int | None,
    max_price: int | None,
    in_stock_product_ids: QuerySet[Any] | None,
) -> QuerySet[Any]:
    if category is not None:
        ids = category.descendant_ids()
        qs = qs.filter(category_id=ids[0]) if len(ids) == 1 else qs.filter(category_id__in=ids)
    if min_price is not None:
        qs = qs.filter(price__gte=min_price)
    if max_price is not None:
        qs = qs.filter(price__lte=max_price)
    if in_stock_product_ids is not None:
        qs = qs.filter(product_id__in=in_stock_product_ids)
    if q:
        qs = _search_filter(qs, q)
    return qs


def product_list(
    *,
    market: Market,
    category: CategoryNode | None = None,
    q: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    in_stock_product_ids: QuerySet[Any] | None = None,
    sort: str | None = None,
) -> tuple[QuerySet[Any], list[Key]]:
    """The market's active listings matching the filters (rows of ``LISTING_COLUMNS``), and
    the keyset ordering to page them with. ``category`` includes its descendants. With ``q`` and no explicit sort the
    order is relevance. ``in_stock_product_ids`` is the inventory's subquery of product
    ids with stock in the market (the entry point passes it; catalog does not read stock).
    """
    q = (q or "").strip()
    qs = _filtered(
        _listing_rows(market),
        category=category,
        q=q,
        min_price=min_price,
        max_price=max_price,
        in_stock_product_ids=in_stock_product_ids,
    )
    if q and not sort:
        ranked = qs.annotate(relevance=_relevance(q))
        return ranked.values_list(*LISTING_COLUMNS, "relevance", named=True), RELEVANCE
    return qs, ORDERINGS[sort or settings.CATALOG_DEFAULT_SORT]


def product_count(
    *,
    market: Market,
    category: CategoryNode | None = None,
    q: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    in_stock_product_ids: QuerySet[Any] | None = None,
) -> int:
    """How many listings ``product_list`` matches with the same filters (the storefront's
    "12 products"). Counted on the listing table alone: the page's rows join the product,
    brand and category for their columns, and counting through those joins read every
    product of the catalog (66 ms at 200,000 products, against an index-only range of the
    listing index for a category). A search still joins the product (its words are there).
    """
    qs = _filtered(
        _listing_base(market),
        category=category,
        q=(q or "").strip(),
        min_price=min_price,
        max_price=max_price,
        in_stock_product_ids=in_stock_product_ids,
    )
    return qs.count()


@replica_reads()
def listings_for_products(*, market: Market, product_ids: list[int]) -> list[Any]:
    """Listing rows (``LISTING_COLUMNS``) of ``product_ids`` in that order (one query)."""
    rows = {row.product_id: row for row in _listing_rows(market).filter(product_id__in=product_ids)}
    return [rows[pid] for pid in product_ids if pid in rows]


def listing_price(listing: Any, now: dt.datetime | None = None) -> pricing.EffectivePrice:
    """The effective price of a listing row (or model instance) at ``now``."""
    row = pricing.PriceRow(
        listing.currency, listing.list_price, listing.sale_price, listing.sale_starts_at, listing.sale_ends_at
    )
    return pricing.effective(row, now or clock.now(), from_fx=listing.from_fx)


# --- Popular -----------------------------------------------------------------------------


def market_today(market: Market, now: dt.datetime | None = None) -> dt.date:
    return (now or clock.now()).astimezone(ZoneInfo(market.time_zone)).date()


#: How many of the ranking are cached (one entry per market, whatever the caller's limit:
#: the API's top 5 and the home page's top 10 read the same list).
POPULAR_CACHED = 10


def popular_product_ids(*, market: Market, limit: int = 5) -> list[int]:
    """Top products by units sold over the last ``CATALOG_POPULAR_DAYS`` market-local days
    (today included), at most ``limit`` (<= ``POPULAR_CACHED``). Cached for
    ``CATALOG_POPULAR_CACHE_SECONDS``."""
    key = POPULAR_KEY.format(market=market.code)
    ids: list[int] | None = cache.get(key)
    if ids is None:
        limit_cached = max(limit, POPULAR_CACHED)
        today = market_today(market)
        since = today - dt.timedelta(days=settings.CATALOG_POPULAR_DAYS - 1)
        ids = list(
            ProductSalesDaily.objects.filter(
                market_id=market.code,
                date__gte=since,
                date__lte=today,
                # Shown products only (a listing is inactive with its product or category),
                # so the top five stays five after ``listings_for_products``.
                product__listings__market_id=market.code,
                product__listings__is_active=True,
            )
            .values("product_id")
            .annotate(total=Sum("units"))
            .filter(total__gt=0)
            .order_by("-total", "product_id")
            .values_list("product_id", flat=True)[:limit_cached]
        )
        cache.set(key, ids, settings.CATALOG_POPULAR_CACHE_SECONDS)
    return ids[:limit]


# --- Product detail ----------------------------------------------------------------------


@dataclass
class SkuView:
    sku: Sku
    price: pricing.EffectivePrice
    next_change: dt.datetime | None = None  # the next sale start or end of its price


@dataclass
class ProductDetail:
    product: Product
    skus: list[SkuView]
    price: pricing.EffectivePrice  # the cheapest SKU's (the "from" price)


#: The three detail queries, compiled once per process (ADR 0013): the product (brand and
#: category joined; active, in an active category), its active SKUs in display order, their
#: prices in every market.
_DETAIL_PRODUCT = Compiled(
    Product,
    lambda p: (
        Product.objects.select_related("brand", "category")
        .defer("search_document")
        .filter(pk=p.product_id, is_active=True, category__is_active=True)
        .order_by()[:1]
    ),
)
_DETAIL_SKUS = Compiled(
    Sku, lambda p: Sku.objects.filter(product_id=p.product_id, is_active=True).order_by("position", "id")
)
_DETAIL_PRICES = Compiled(
    MarketPrice,
    lambda p: (
        MarketPrice.objects.filter(sku__product_id=p.product_id, sku__is_active=True)
        .order_by()
        .values_list(
            "sku_id", "market_id", "currency", "list_price", "sale_price", "sale_starts_at", "sale_ends_at"
        )
    ),
)

#: A product's rows for its detail, in every market (``_detail_rows``), in the read cache.
DETAIL_ROWS_KEY = "catalog:read:detail-rows:{product_id}"

_DetailRows = tuple[Product, list[Sku], dict[int, dict[str, pricing.PriceRow]]]


def _detail_rows(product_id: int) -> _DetailRows | None:
    """The product, its active SKUs and their price rows in every market; None when the
    product is missing or inactive (or its category is).

    Kept in the read cache per product, not per market, language or URL
    (``apps.catalog.readcache``: stale on any catalog write from its commit on, and after
    ``CATALOG_READ_CACHE_SECONDS`` at most), so the four market and language pairs of a
    product, its API detail and its page share one read. What is cached are rows, not
    prices: the effective price, the sale and its next boundary are worked out from them
    at every call, so a sale starts and ends on time whatever the entry's age. Stock is
    not in it."""
    key = DETAIL_ROWS_KEY.format(product_id=product_id)
    entry, version = readcache.read(key)
    if entry is not None:
        rows: _DetailRows = entry.body
        return rows
    product = _DETAIL_PRODUCT.first(product_id=product_id)
    if product is None:
        return None
    skus = _DETAIL_SKUS.fetch(product_id=product.pk)
    prices: dict[int, dict[str, pricing.PriceRow]] = {}
    for mp in _DETAIL_PRICES.fetch(product_id=product.pk):
        prices.setdefault(mp[0], {})[mp[1]] = pricing.PriceRow(*mp[2:])
    found = (product, skus, prices)
    readcache.write(key, version, body=found, ids=())
    return found


@replica_reads()
def product_detail_get(*, product_id: int, market: Market, now: dt.datetime | None = None) -> ProductDetail:
    """A product with its active SKUs priced in ``market`` (FX fallback per SKU).

    Three queries on a miss of the product's cached rows (``_detail_rows``): the product
    (brand, category joined), its SKUs, their prices in every market; none on a hit.
    Raises: catalog.product_not_found (missing, inactive, in a switched-off category,
    or no price anywhere), like lists, which hide such products through their listing.
    """
    now = now or clock.now()
    found = _detail_rows(product_id)
    if found is None or found[0].category_id not in category_tree().by_id:
        # (the tree leaves out categories under a switched-off parent)
        raise ProductNotFound(product_id=product_id)
    product, skus, rows = found
    views: list[SkuView] = []
    for sku in skus:
        resolved = pricing.resolve_row(rows.get(sku.pk, {}), market)
        if resolved is not None:
            row, from_fx = resolved
            views.append(
                SkuView(sku, pricing.effective(row, now, from_fx=from_fx), pricing.next_boundary(row, now))
            )
    if not views:
        raise ProductNotFound(product_id=product_id)
    cheapest = min(views, key=lambda v: (v.price.price.amount, v.sku.pk))
    return ProductDetail(product, views, cheapest.price)


# --- Home page sections --------------------------------------------------------------------

HOME_KEY = "catalog:home:{market}:v1"
HOME_SECTION_SIZE = 10  # two rows of the desktop grid
HOME_PICKS_SIZE = 5  # one row per top category


@dataclass(frozen=True, slots=True)
class HomeSections:
    """Product ids of the home page's sections (cards are built from one listing query)."""

    deal_ids: list[int]
    new_ids: list[int]
    picks: list[tuple[int, list[int]]]  # (top category id, product ids)

    def all_ids(self) -> list[int]:
        seen: dict[int, None] = {}
        for ids in (self.deal_ids, self.new_ids, *(ids for _, ids in self.picks)):
            for pid in ids:
                seen.setdefault(pid, None)
        return list(seen)


def home_sections(*, market: Market, now: dt.datetime | None = None) -> HomeSections:
    """Today's deals (sales running now, the soonest to end first), new arrivals, and the
    most popular products of each top category, for ``market``.

    Cached for ``CATALOG_POPULAR_CACHE_SECONDS`` as ids only (2 + one per top category
    queries on a miss, each an index range of the listing table): the cards' prices and
    stock are read fresh on every request, and a deal that ended meanwhile is dropped by
    the page (its card is no longer on sale)."""
    key = HOME_KEY.format(market=market.code)
    sections: HomeSections | None = cache.get(key)
    if sections is not None:
        return sections
    now = now or clock.now()
    base = _listing_base(market)
    deal_ids = list(
        base.filter(sale_price__isnull=False, sale_ends_at__gt=now)
        .filter(Q(sale_starts_at__isnull=True) | Q(sale_starts_at__lte=now))
        .order_by("sale_ends_at", "product_id")
        .values_list("product_id", flat=True)[:HOME_SECTION_SIZE]
    )
    new_ids = list(
        base.order_by("-created_at", "-product_id").values_list("product_id", flat=True)[:HOME_SECTION_SIZE]
    )
    picks: list[tuple[int, list[int]]] = []
    for root in category_tree().roots:
        ids = root.descendant_ids()
        ids_qs = (
            base.filter(category_id__in=ids)
            .order_by("-popularity", "product_id")
            .values_list("product_id", flat=True)[:HOME_PICKS_SIZE]
        )
        picked = list(ids_qs)
        if picked:
            picks.append((root.id, picked))
    sections = HomeSections(deal_ids, new_ids, picks)
    cache.set(key, sections, settings.CATALOG_POPULAR_CACHE_SECONDS)
    return sections


# --- Search help -----------------------------------------------------------------------------

VOCABULARY_KEY = "catalog:vocabulary:{language}:v1"


@replica_reads()
def search_vocabulary(*, language: str) -> list[str]:
    """The words and names a shopper may be trying to type: category and brand names (both
    languages) and the distinct words of active product names in ``language`` (for the
    spelling hint of a search without results). Two queries, cached like the category tree."""
    key = VOCABULARY_KEY.format(language=language)
    words: list[str] | None = cache.get(key)
    if words is not None:
        return words
    field_name = "name_ko" if language == "ko" else "name_en"
    found: dict[str, None] = {}
    # category and brand names in both languages (a Korean shopper types "bluepeak" too)
    for node in category_tree().by_id.values():
        for name in (node.name_ko, node.name_en):
            if name:
                found.setdefault(name.lower(), None)
    for name_ko, name_en in Brand.objects.values_list("name_ko", "name_en"):
        for name in (name_ko, name_en):
            if name:
                found.setdefault(name.lower(), None)
    names = (
        Product.objects.filter(is_active=True, category_id__in=list(category_tree().by_id))
        .values_list(field_name, flat=True)
        .distinct()
    )
    for name in names.iterator(chunk_size=2000):
        for word in (name or "").lower().split():
            if len(word) >= 2 and not word.isdigit():
                found.setdefault(word, None)
    words = [w for w in found if w]
    cache.set(key, words, settings.CATALOG_CATEGORY_CACHE_SECONDS)
    return words
