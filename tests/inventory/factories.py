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
