"""Demo stock: two KR warehouses and one US warehouse, stock for every SKU that has none
(some sold out, some low). Runs after the catalog's demo (INSTALLED_APPS order)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.catalog.models import Sku
from apps.inventory import services
from apps.inventory.models import StockLevel, Warehouse
from apps.markets.selectors import market_get

WAREHOUSES = [
    ("KR-ICN1", "인천 풀필먼트 센터", "KR", 10),
    ("KR-BSN1", "부산 풀필먼트 센터", "KR", 20),
    ("US-NJ1", "New Jersey Fulfillment Center", "US", 10),
]


def ensure_warehouses() -> list[Warehouse]:
    out = []
    for code, name, market, priority in WAREHOUSES:
        wh = Warehouse.objects.filter(code=code).first()
        if wh is None:
            wh = services.warehouse_create(code=code, name=name, market=market_get(market), priority=priority)
        out.append(wh)
    return out


def stock_missing_skus() -> int:
    """Give every SKU without stock rows a deterministic quantity in each warehouse."""
    warehouses = ensure_warehouses()
    stocked = StockLevel.objects.values("sku_id")
    rows: list[tuple[int, Warehouse, int]] = []
    for sku_id in Sku.objects.exclude(pk__in=stocked).values_list("pk", flat=True).iterator(chunk_size=5000):
        for index, wh in enumerate(warehouses):
            bucket = (sku_id * 31 + index * 7) % 20
            on_hand = 0 if bucket == 0 else 3 if bucket == 1 else 20 + (sku_id * 13 + index) % 180
            if index == 1 and sku_id % 5:
                on_hand = 0  # the second KR warehouse holds a smaller range
            rows.append((sku_id, wh, on_hand))
    services.stock_levels_bulk_create(rows=rows)
    return len(rows)


def seed(*, stdout: Any) -> list[str]:
    with transaction.atomic():
        created = stock_missing_skus()
    if created:
        stdout.write(f"inventory: {created} stock levels in {len(WAREHOUSES)} warehouses")
    return []
