"""Orders test data: orders placed (and paid) through the services, and the stock and
ledger sums the assertions compare against."""

from __future__ import annotations

import uuid
from typing import Any

from apps.accounts.models import User
from apps.catalog.models import Sku
from apps.inventory.models import StockLevel, StockMovement
from apps.markets.models import Market
from apps.orders import services
from apps.orders.models import Order
from tests.carts.factories import stocked
from tests.orders.conftest import address_for
from tests.payments.factories import MemberFactory, funded_wallet, ledger_sum, method_for, staff


def key() -> str:
    """A fresh Idempotency-Key."""
    return str(uuid.uuid4())


def items_of(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    """``items_of((sku, 2), (sku2, 1))`` → the ``items`` argument of ``order_place``."""
    return [{"sku": sku, "quantity": quantity} for sku, quantity in pairs]


def place(
    user: User,
    market: Market,
    items: list[dict[str, Any]] | None = None,
    *,
    idempotency_key: str | None = None,
    address: dict[str, str] | None = None,
) -> Order:
    """A PENDING order of ``items`` (default: one unit of a fresh product stocked 50)."""
    if items is None:
        _, sku = stocked()
        items = items_of((sku, 1))
    return services.order_place(
        user=user,
        market=market,
        idempotency_key=idempotency_key or key(),
        items=items,
        shipping_address=address or address_for(market),
    ).order


def paid_order(
    user: User | None = None,
    market: Market | None = None,
    items: list[dict[str, Any]] | None = None,
    *,
    fund: int | None = None,
) -> Order:
    """A PAID order of ``user`` (a new member when None) by wallet; the wallet is funded with
    ``fund`` (default: exactly the order total) first."""
    user = user or MemberFactory()
    market = market or Market.objects.get(code="KR")
    order = place(user, market, items)
    funded_wallet(user, market, order.total if fund is None else fund)
    services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key=key())
    order.refresh_from_db()
    return order


def fulfilled_order(user: User | None = None, market: Market | None = None, **kw: Any) -> Order:
    """A FULFILLED order (paid by wallet, then shipped by an ops admin)."""
    order = paid_order(user, market, **kw)
    ops = staff("ops_admin")
    services.order_transition(
        order_id=str(order.public_id),
        to_status="fulfilled",
        actor=ops,
        reason="shipped",
        markets=[order.market_id],
    )
    order.refresh_from_db()
    return order


def sku_stock(sku_code: str, market: str = "KR") -> StockLevel:
    """The (single, per the carts ``stocked`` factory) stock row of ``sku_code`` in ``market``."""
    return StockLevel.objects.get(sku__code=sku_code, warehouse__market_id=market)


def movements_sum(level: StockLevel) -> int:
    return sum(StockMovement.objects.filter(stock_level=level).values_list("delta", flat=True))


def sku_id(sku_code: str) -> int:
    return Sku.objects.get(code=sku_code).pk


__all__ = [
    "MemberFactory",
    "address_for",
    "fulfilled_order",
    "funded_wallet",
    "items_of",
    "key",
    "ledger_sum",
    "method_for",
    "movements_sum",
    "paid_order",
    "place",
    "sku_id",
    "sku_stock",
    "staff",
    "stocked",
]
