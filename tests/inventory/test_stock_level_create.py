"""Opening a stock row is create-only: it never resets reservations of an existing row."""

import pytest

from apps.inventory.errors import StockLevelExists
from apps.inventory.models import StockLevel
from apps.inventory.services import stock_level_create
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def _sku():
    return ProductFactory(kr=1000, skus=1).skus.get()


def test_creates_a_row_with_nothing_reserved():
    existing = StockLevelFactory(sku=_sku(), on_hand=3, reserved=0)
    other_warehouse = WarehouseFactory(code="KR-NEW1")
    level = stock_level_create(sku_id=existing.sku_id, warehouse=other_warehouse, on_hand=7)
    level.refresh_from_db()
    assert (level.warehouse.code, level.on_hand, level.reserved) == ("KR-NEW1", 7, 0)


def test_an_existing_row_is_refused_and_left_unchanged():
    level = StockLevelFactory(sku=_sku(), on_hand=10, reserved=4)
    with pytest.raises(StockLevelExists) as exc:
        stock_level_create(sku_id=level.sku_id, warehouse=level.warehouse, on_hand=99)
    assert exc.value.params == {"warehouse": level.warehouse.code}
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (10, 4)
    assert StockLevel.objects.filter(sku_id=level.sku_id, warehouse=level.warehouse).count() == 1
