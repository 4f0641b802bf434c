"""Stock reads. Available = on_hand - reserved, summed over the market's active
warehouses. Each function is one indexed, aggregated query."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet, Sum

from apps.inventory.models import StockLevel, Warehouse

_AVAILABLE = Sum(F("on_hand") - F("reserved"))


def _market_levels(market_code: str) -> QuerySet[StockLevel]:
    return StockLevel.objects.filter(warehouse__market_id=market_code, warehouse__is_active=True)


def available_by_sku_codes(*, codes: list[str], market_code: str) -> dict[str, int]:
    """``{code: available}`` for the codes that have stock rows in the market. A withdrawn
    SKU or product (``is_active`` off) is not for sale: it is left out, i.e. 0."""
    rows = (
        _market_levels(market_code)
        .filter(sku__code__in=codes, sku__is_active=True, sku__product__is_active=True)
        .values("sku__code")
        .annotate(avail=_AVAILABLE)
        .values_list("sku__code", "avail")
    )
    return {code: int(available or 0) for code, available in rows}


def available_by_sku_ids(*, sku_ids: list[int], market_code: str) -> dict[int, int]:
    rows = (
        _market_levels(market_code)
        .filter(sku_id__in=sku_ids)
        .values("sku_id")
        .annotate(avail=_AVAILABLE)
        .values_list("sku_id", "avail")
    )
    return {sku_id: int(available or 0) for sku_id, available in rows}


def available_by_product_ids(*, product_ids: list[int], market_code: str) -> dict[int, int]:
    """Total available units per product (all SKUs) in the market."""
    if not product_ids:
        return {}
    rows = (
        _market_levels(market_code)
        .filter(sku__product_id__in=product_ids, sku__is_active=True)
        .values("sku__product_id")
        .annotate(avail=_AVAILABLE)
        .values_list("sku__product_id", "avail")
    )
    return {pid: int(available or 0) for pid, available in rows}


def in_stock_product_ids(*, market_code: str) -> QuerySet[Any]:
    """A subquery of product ids with at least one unit available in the market."""
    return (
        _market_levels(market_code)
        .filter(on_hand__gt=F("reserved"), sku__is_active=True)
        .values("sku__product_id")
    )


def warehouse_list(*, market_code: str | None = None) -> list[Warehouse]:
    qs = Warehouse.objects.filter(is_active=True)
    if market_code:
        qs = qs.filter(market_id=market_code)
    return list(qs.order_by("market_id", "priority", "id"))
