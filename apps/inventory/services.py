"""Inventory use-cases of this issue: warehouses and setting stock levels (seed and
admin). Reservations and audited adjustments arrive with the checkout issue."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.core import clock
from apps.inventory.errors import OnHandBelowReserved, StockChanged, StockLevelExists
from apps.inventory.models import StockLevel, Warehouse
from apps.markets.models import Market


def warehouse_create(*, code: str, name: str, market: Market, priority: int = 100) -> Warehouse:
    return Warehouse.objects.create(code=code, name=name, market=market, priority=priority)


@transaction.atomic
def stock_level_create(*, sku_id: int, warehouse: Warehouse, on_hand: int) -> StockLevel:
    """Open the stock row of a SKU in a warehouse with a first count (admin, demo data).

    Create-only: an existing row is never overwritten, so a second "add" can never reset
    reservations or put back sold units (counts change through ``stock_level_on_hand_set``).

    Locks: the unique (sku, warehouse) index. Raises: inventory.stock_level_exists.
    """
    try:
        with transaction.atomic():
            return StockLevel.objects.create(sku_id=sku_id, warehouse=warehouse, on_hand=on_hand, reserved=0)
    except IntegrityError as exc:
        if StockLevel.objects.filter(sku_id=sku_id, warehouse=warehouse).exists():
            raise StockLevelExists(warehouse=warehouse.code) from exc
        raise


@transaction.atomic
def stock_level_on_hand_set(
    *, level_id: int, on_hand: int, expected_on_hand: int | None = None
) -> StockLevel:
    """Set the counted on-hand quantity of an existing stock row (the admin's correction
    until audited adjustments arrive). ``reserved`` is never written, so a reservation
    that lands meanwhile is kept, and the row never drops below what is reserved.
    ``expected_on_hand`` (what the editor saw) makes the write compare-and-set: a sale
    committed meanwhile (``on_hand -= qty``) is not silently put back by an absolute value.

    Locks: none; one conditional ``UPDATE ... WHERE reserved <= on_hand [AND on_hand =
    expected]`` (the CHECK ``0 <= reserved <= on_hand`` is the backstop).
    Raises: inventory.stock_changed, inventory.on_hand_below_reserved.
    """
    rows = StockLevel.objects.filter(pk=level_id, reserved__lte=on_hand)
    if expected_on_hand is not None:
        rows = rows.filter(on_hand=expected_on_hand)
    updated = rows.update(on_hand=on_hand, updated_at=clock.now())
    level = StockLevel.objects.get(pk=level_id)
    if not updated:
        if expected_on_hand is not None and level.on_hand != expected_on_hand:
            raise StockChanged(on_hand=level.on_hand, expected=expected_on_hand)
        raise OnHandBelowReserved(on_hand=on_hand, reserved=level.reserved)
    return level


def stock_levels_bulk_create(*, rows: list[tuple[int, Warehouse, int]]) -> int:
    """Insert ``(sku_id, warehouse, on_hand)`` rows that do not exist yet (large seeds)."""
    objs = [
        StockLevel(sku_id=sku_id, warehouse=wh, on_hand=on_hand, reserved=0) for sku_id, wh, on_hand in rows
    ]
    StockLevel.objects.bulk_create(objs, batch_size=2000, ignore_conflicts=True)
    return len(objs)
