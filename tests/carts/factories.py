"""Cart factories: products with stock in a market, guest and member carts."""

from __future__ import annotations

from typing import Any

from apps.carts import services
from apps.carts.models import Cart
from apps.catalog.models import Product
from apps.inventory.models import Warehouse
from apps.inventory.services import stock_level_create
from apps.markets.models import Market
from tests.accounts.factories import MemberFactory
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import WarehouseFactory


def warehouse(market: str = "KR") -> Warehouse:
    return Warehouse.objects.filter(code=f"CART-{market}").first() or WarehouseFactory(
        code=f"CART-{market}", market_id=market, priority=10
    )


def stocked(
    *, kr: int | None = 10000, us: int | None = 1000, stock: dict[str, int] | None = None, **kw: Any
) -> tuple[Product, str]:
    """A one-SKU product priced ``kr``/``us`` (minor units) with ``stock`` units per market
    (default 50 in KR and US). Returns (product, sku code)."""
    product = ProductFactory(kr=kr, us=us, skus=1, **kw)
    sku = product.skus.get()
    for market, on_hand in (stock if stock is not None else {"KR": 50, "US": 50}).items():
        stock_level_create(sku_id=sku.pk, warehouse=warehouse(market), on_hand=on_hand)
    return product, sku.code


def guest_cart(market: str = "KR") -> tuple[Cart, str]:
    return services.guest_cart_create(market=Market.objects.get(code=market))


def member_cart(user: Any = None, market: str = "KR") -> Cart:
    user = user or MemberFactory()
    return services.member_cart_get_or_create(user=user, market=Market.objects.get(code=market))
