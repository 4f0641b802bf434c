"""Plain-data shapes of products for the API and the storefront (no queries here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import translation

from apps.catalog.models import Brand, Category, ProductListing
from apps.catalog.pricing import EffectivePrice
from apps.catalog.selectors import CategoryNode, ProductDetail, category_tree, listing_price
from apps.core import clock
from apps.core.formatting import format_money
from apps.core.money import Money


def stock_status(available: int) -> str:
    if available <= 0:
        return "sold_out"
    if available <= settings.CATALOG_LOW_STOCK_THRESHOLD:
        return "low"
    return "in_stock"


@dataclass
class ProductCard:
    """What a product card and the API's product summary show."""

    id: int
    slug: str
    name: str
    brand: Brand | None
    category: Category | CategoryNode
    image_url: str
    price: EffectivePrice
    available: int
    rocket_delivery: bool
    coupon_applicable: bool = False

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
    def sale_ends_soon(self) -> bool:
        ends = self.price.sale_ends_at
        return bool(ends and ends - clock.now() < dt.timedelta(hours=24))


def card_from_listing(listing: ProductListing, available: int, now: dt.datetime | None = None) -> ProductCard:
    product = listing.product
    return ProductCard(
        id=product.pk,
        slug=product.slug,
        name=product.name,
        brand=product.brand,
        category=listing.category,
        image_url=product.image,
        price=listing_price(listing, now),
        available=available,
        rocket_delivery=product.rocket_delivery,
    )


def cards(listings: list[ProductListing], availability: dict[int, int]) -> list[ProductCard]:
    return [card_from_listing(row, availability.get(row.product_id, 0)) for row in listings]


def ref(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"id": obj.id, "slug": obj.slug, "name": obj.name}


@lru_cache(maxsize=8192)
def _display(amount: int, currency: str, language: str) -> str:
    return format_money(Money(amount, currency), language)


def money_json(money: Money) -> dict[str, Any]:
    """``Money.as_json()`` with the Babel-formatted display memoized: a page of cards
    formats the same few amounts over and over, and Babel is the costliest step."""
    language = translation.get_language() or "en"
    return {
        "amount": money.amount,
        "currency": money.currency,
        "display": _display(money.amount, money.currency, language),
    }


def price_json(price: EffectivePrice) -> dict[str, Any]:
    return {
        "price": money_json(price.price),
        "list_price": money_json(price.list_price),
        "sale": {"price": money_json(price.price), "ends_at": price.sale_ends_at} if price.on_sale else None,
    }


def summary_json(card: ProductCard, absolute: Any) -> dict[str, Any]:
    return {
        "id": card.id,
        "slug": card.slug,
        "name": card.name,
        "brand": ref(card.brand),
        "category": ref(card.category),
        "image_url": absolute(card.image_url),
        **price_json(card.price),
        "discount_percent": card.price.discount_percent,
        "in_stock": card.in_stock,
        "stock_status": card.stock_status,
        "rocket_delivery": card.rocket_delivery,
        "coupon_applicable": card.coupon_applicable,
        "rating": None,
    }


def category_json(node: CategoryNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "slug": node.slug,
        "name": node.name,
        "children": [category_json(c) for c in node.children],
    }


def categories_json() -> list[dict[str, Any]]:
    return [category_json(node) for node in category_tree().roots]


def detail_json(detail: ProductDetail, sku_available: dict[int, int], absolute: Any) -> dict[str, Any]:
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
        "coupon_applicable": False,
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
