"""Plain-data shapes of products for the API and the storefront (no queries here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import translation
from modeltranslation.utils import get_language as translation_language
from modeltranslation.utils import resolution_order

from apps.catalog.pricing import EffectivePrice, PriceRow, next_boundary
from apps.catalog.selectors import CategoryNode, ProductDetail, category_tree, listing_price
from apps.core import clock
from apps.core.money import Money


def stock_status(available: int) -> str:
    if available <= 0:
        return "sold_out"
    if available <= settings.CATALOG_LOW_STOCK_THRESHOLD:
        return "low"
    return "in_stock"


@dataclass(frozen=True, slots=True)
class Ref:
    """A brand or category as a card shows it (name already in the request's language)."""

    id: int
    slug: str
    name: str


def name_order() -> tuple[str, ...]:
    """The languages a translated name is read in, first non-empty wins: modeltranslation's
    resolution order for the active language (what ``product.name`` would read)."""
    return resolution_order(translation_language())


def localized(order: tuple[str, ...], ko: str | None, en: str | None) -> str:
    """``name_ko``/``name_en`` resolved like modeltranslation's descriptor (None and ""
    count as missing; nothing found is "")."""
    for lang in order:
        value = ko if lang == "ko" else en if lang == "en" else None
        if value:
            return value
    return ""


def image_src(product_id: int, image_url: str | None, language: str | None = None) -> str:
    """The picture a storefront page shows: the product's own image, or the generated one
    in the page's language (its own URL per language, so caches never mix them)."""
    if image_url:
        return image_url
    language = language or translation.get_language() or "en"
    return f"/p/{product_id}/image.{language if language in ('ko', 'en') else 'en'}.svg"


@dataclass
class ProductCard:
    """What a product card and the API's product summary show."""

    id: int
    slug: str
    name: str
    brand: Ref | None
    category: Ref
    image_url: str
    price: EffectivePrice
    available: int
    rocket_delivery: bool
    coupon_applicable: bool = False
    price_changes_at: dt.datetime | None = None  # the next sale start or end (read caching)

    @property
    def stock_status(self) -> str:
        return stock_status(self.available)

    @property
    def in_stock(self) -> bool:
        return self.available > 0

    @property
    def url(self) -> str:
        return f"/p/{self.id}/{self.slug}/"

    @property
    def image_src(self) -> str:
        """For pages (``image_url`` stays the API's language-neutral URL)."""
        generated = self.image_url == f"/p/{self.id}/image.svg"
        return image_src(self.id, None if generated else self.image_url)

    @property
    def sale_ends_soon(self) -> bool:
        ends = self.price.sale_ends_at
        return bool(ends and ends - clock.now() < dt.timedelta(hours=24))


def card_from_listing(row: Any, available: int, now: dt.datetime, order: tuple[str, ...]) -> ProductCard:
    """A card from a listing row (``selectors.LISTING_COLUMNS``); ``order`` from ``name_order()``."""
    product_id = row.product_id
    brand_id = row.product__brand_id
    return ProductCard(
        id=product_id,
        slug=row.product__slug,
        name=localized(order, row.product__name_ko, row.product__name_en),
        brand=None
        if brand_id is None
        else Ref(
            brand_id,
            row.product__brand__slug,
            localized(order, row.product__brand__name_ko, row.product__brand__name_en),
        ),
        category=Ref(
            row.category_id,
            row.category__slug,
            localized(order, row.category__name_ko, row.category__name_en),
        ),
        image_url=row.product__image_url or f"/p/{product_id}/image.svg",
        price=listing_price(row, now),
        available=available,
        rocket_delivery=row.product__rocket_delivery,
        price_changes_at=next_boundary(
            PriceRow(row.currency, row.list_price, row.sale_price, row.sale_starts_at, row.sale_ends_at), now
        ),
    )


def cards(rows: list[Any], availability: dict[int, int]) -> list[ProductCard]:
    now = clock.now()
    order = name_order()
    return [card_from_listing(row, availability.get(row.product_id, 0), now, order) for row in rows]


def ref(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"id": obj.id, "slug": obj.slug, "name": obj.name}


def money_json(money: Money, language: str | None = None) -> dict[str, Any]:
    """``Money.as_json()`` (its display is memoized in ``core.formatting``);
    ``language``: the active language, when the caller already read it."""
    return money.as_json(language or translation.get_language() or "en")


def price_json(price: EffectivePrice, language: str | None = None) -> dict[str, Any]:
    language = language or translation.get_language() or "en"
    shown = money_json(price.price, language)
    return {
        "price": shown,
        "list_price": money_json(price.list_price, language),
        "sale": {"price": money_json(price.price, language), "ends_at": price.sale_ends_at}
        if price.on_sale
        else None,
    }


def summary_json(card: ProductCard, absolute: Any, language: str | None = None) -> dict[str, Any]:
    """The API's product summary; ``language`` as for ``money_json`` (a list reads it once)."""
    return {
        "id": card.id,
        "slug": card.slug,
        "name": card.name,
        "brand": ref(card.brand),
        "category": ref(card.category),
        "image_url": absolute(card.image_url),
        **price_json(card.price, language),
        "discount_percent": card.price.discount_percent,
        "in_stock": card.in_stock,
        "stock_status": card.stock_status,
        "rocket_delivery": card.rocket_delivery,
        "coupon_applicable": card.coupon_applicable,
        "rating": None,
    }


def summary_stock(item: dict[str, Any], available: int) -> dict[str, Any]:
    """Write fresh stock into a (cached) product summary."""
    item["in_stock"] = available > 0
    item["stock_status"] = stock_status(available)
    return item


def summaries_json(cards: list[ProductCard], absolute: Any) -> list[dict[str, Any]]:
    language = translation.get_language() or "en"
    return [summary_json(card, absolute, language) for card in cards]


def category_json(node: CategoryNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "slug": node.slug,
        "name": node.name,
        "children": [category_json(c) for c in node.children],
    }


def categories_json() -> list[dict[str, Any]]:
    return [category_json(node) for node in category_tree().roots]


def detail_json(
    detail: ProductDetail, sku_available: dict[int, int], absolute: Any, *, coupon_applicable: bool = False
) -> dict[str, Any]:
    product = detail.product
    total = sum(max(sku_available.get(v.sku.pk, 0), 0) for v in detail.skus)
    return {
        "id": product.pk,
        "slug": product.slug,
        "name": product.name,
        "description": product.description,
        "brand": ref(product.brand),
        "category": ref(product.category),
        "image_url": absolute(product.image),
        **price_json(detail.price),
        "discount_percent": detail.price.discount_percent,
        "in_stock": total > 0,
        "stock_status": stock_status(total),
        "rocket_delivery": product.rocket_delivery,
        "max_per_order": product.max_per_order,
        "coupon_applicable": coupon_applicable,
        "rating": None,
        "promotions": [],
        "skus": [
            {
                "sku": view.sku.code,
                "options": view.sku.options,
                **price_json(view.price),
                "available_quantity": max(sku_available.get(view.sku.pk, 0), 0),
                "max_per_order": product.max_per_order,
            }
            for view in detail.skus
        ],
    }


def detail_stock(body: dict[str, Any], sku_ids: list[int], sku_available: dict[int, int]) -> dict[str, Any]:
    """Write fresh stock into a (cached) ``detail_json`` payload; ``sku_ids`` in the order
    of its ``skus``."""
    total = 0
    for item, sku_id in zip(body["skus"], sku_ids, strict=True):
        item["available_quantity"] = quantity = max(sku_available.get(sku_id, 0), 0)
        total += quantity
    body["in_stock"] = total > 0
    body["stock_status"] = stock_status(total)
    return body
