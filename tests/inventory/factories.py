from __future__ import annotations

import factory

from apps.inventory.models import StockLevel, Warehouse


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"WH-{n}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    market_id = "KR"
    priority = 10


class StockLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockLevel

    warehouse = factory.SubFactory(WarehouseFactory)
    on_hand = 10
    reserved = 0


def stocked_sku(levels: dict[str, int], *, code: str | None = None, market: str = "KR") -> str:
    """A new SKU with stock opened through the service (so the ledger holds) in the named
    warehouses, created when missing (priority = their order in ``levels``). Returns the
    SKU code. ``stocked_sku({"KR-A": 3, "KR-B": 2})``."""
    from apps.inventory.models import Warehouse
    from apps.inventory.services import stock_level_create
    from tests.catalog.factories import ProductFactory

    product = ProductFactory(kr=1000, skus=1, **({"code": code} if code else {}))
    sku = product.skus.get()
    for index, (wh_code, on_hand) in enumerate(levels.items()):
        warehouse = Warehouse.objects.filter(code=wh_code).first() or WarehouseFactory(
            code=wh_code, market_id=market, priority=10 * (index + 1)
        )
        stock_level_create(sku_id=sku.pk, warehouse=warehouse, on_hand=on_hand)
    return sku.code
