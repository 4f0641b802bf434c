"""Stock reads. Available = on_hand - reserved, summed over the market's active
warehouses. Each function is one indexed, aggregated query.

The three ``available_by_*`` reads run on every product list, product detail and stock
check, so they are written as SQL once instead of being built by the ORM per call (the
ORM spent more CPU assembling and compiling these joins than the database spent running
them). The SQL is what the ORM generated for the equivalent ``values().annotate(Sum())``
queries, with the table names read from the models.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import F, QuerySet

from apps.catalog.models import Product, Sku
from apps.inventory.models import StockLevel, Warehouse


def _market_levels(market_code: str) -> QuerySet[StockLevel]:
    return StockLevel.objects.filter(warehouse__market_id=market_code, warehouse__is_active=True)


# Standard SQL (double-quoted names) for both supported databases, SQLite and PostgreSQL.
_L, _W, _S, _P = (m._meta.db_table for m in (StockLevel, Warehouse, Sku, Product))
_SUM = f'SUM(("{_L}"."on_hand" - "{_L}"."reserved"))'
_FROM = f'FROM "{_L}" INNER JOIN "{_W}" ON ("{_L}"."warehouse_id" = "{_W}"."id")'
_JOIN_SKU = f' INNER JOIN "{_S}" ON ("{_L}"."sku_id" = "{_S}"."id")'
_JOIN_PRODUCT = f' INNER JOIN "{_P}" ON ("{_S}"."product_id" = "{_P}"."id")'
_MARKET = f'"{_W}"."is_active" AND "{_W}"."market_id" = %s'
#: ``{in}`` becomes one placeholder per key.
_SQL = {
    "sku_code": f'SELECT "{_S}"."code", {_SUM} {_FROM}{_JOIN_SKU}{_JOIN_PRODUCT} WHERE ({_MARKET} AND '
    f'"{_S}"."code" IN ({{in}}) AND "{_S}"."is_active" AND "{_P}"."is_active") GROUP BY 1',
    "sku_id": f'SELECT "{_L}"."sku_id", {_SUM} {_FROM} WHERE ({_MARKET} AND "{_L}"."sku_id" IN ({{in}})) GROUP BY 1',
    "product_id": f'SELECT "{_S}"."product_id", {_SUM} {_FROM}{_JOIN_SKU} WHERE ({_MARKET} AND '
    f'"{_S}"."product_id" IN ({{in}}) AND "{_S}"."is_active") GROUP BY 1',
}


def _available(name: str, market_code: str, keys: list[Any]) -> list[tuple[Any, Any]]:
    if not keys:
        return []  # like the ORM's empty IN: no query
    sql = _SQL[name].replace("{in}", ", ".join(["%s"] * len(keys)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [market_code, *keys])
        return cursor.fetchall()


def available_by_sku_codes(*, codes: list[str], market_code: str) -> dict[str, int]:
    """``{code: available}`` for the codes that have stock rows in the market. A withdrawn
    SKU or product (``is_active`` off) is not for sale: it is left out, i.e. 0."""
    rows = _available("sku_code", market_code, codes)
    return {code: int(available or 0) for code, available in rows}


def available_by_sku_ids(*, sku_ids: list[int], market_code: str) -> dict[int, int]:
    rows = _available("sku_id", market_code, sku_ids)
    return {sku_id: int(available or 0) for sku_id, available in rows}


def available_by_product_ids(*, product_ids: list[int], market_code: str) -> dict[int, int]:
    """Total available units per product (all SKUs) in the market."""
    rows = _available("product_id", market_code, product_ids)
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
