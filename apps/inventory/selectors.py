"""Stock reads. Available = on_hand - reserved, summed over the market's active
warehouses. Each function is one indexed, aggregated query.

The three ``available_by_*`` reads run on every product list, product detail and stock
check, so they are written as SQL once instead of being built by the ORM per call (the
ORM spent more CPU assembling and compiling these joins than the database spent running
them). The SQL is what the ORM generated for the equivalent ``values().annotate(Sum())``
queries, with the table names read from the models.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from apps.catalog.models import Product, Sku
from apps.inventory.models import Reservation, StockLevel, StockMovement, Warehouse


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


def stock_movement_list(
    *,
    sku_code: str | None = None,
    warehouse_code: str | None = None,
    actor_id: int | None = None,
    kind: str | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
) -> QuerySet[StockMovement]:
    """The stock ledger, newest first, with what a list shows joined in one query.
    ``created_to`` is exclusive."""
    qs = StockMovement.objects.select_related("sku", "warehouse", "actor")
    if sku_code:
        qs = qs.filter(sku__code=sku_code)
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    if actor_id is not None:
        qs = qs.filter(actor_id=actor_id)
    if kind:
        qs = qs.filter(kind=kind)
    if created_from is not None:
        qs = qs.filter(created_at__gte=created_from)
    if created_to is not None:
        qs = qs.filter(created_at__lt=created_to)
    return qs.order_by("-created_at", "-id")


def stock_levels_for_sku(*, sku_code: str) -> list[StockLevel]:
    """Every stock row of a SKU, by market and warehouse priority, warehouses joined."""
    return list(
        StockLevel.objects.filter(sku__code=sku_code)
        .select_related("warehouse", "sku")
        .order_by("warehouse__market_id", "warehouse__priority", "warehouse_id")
    )


def low_stock_levels(*, threshold: int | None = None) -> QuerySet[StockLevel]:
    """Rows of active SKUs in active warehouses whose available units are at or below their
    own threshold, else ``threshold``, else the setting (``INVENTORY_LOW_STOCK_THRESHOLD``)."""
    from apps.inventory.services.levels import low_stock_threshold_default

    default = threshold if threshold is not None else low_stock_threshold_default()
    return (
        StockLevel.objects.filter(warehouse__is_active=True, sku__is_active=True)
        .annotate(
            available_units=F("on_hand") - F("reserved"),
            threshold_units=Coalesce("low_stock_threshold", Value(default)),
        )
        .filter(available_units__lte=F("threshold_units"))
        .select_related("sku", "warehouse")
        .order_by("available_units", "pk")
    )


def stock_drift() -> list[dict[str, Any]]:
    """Stock rows whose ``on_hand`` differs from the sum of their movements, or whose
    ``reserved`` differs from their active reservations (``manage.py inventory_reconcile``)."""
    moved = (
        StockMovement.objects.filter(stock_level_id=OuterRef("pk"))
        .values("stock_level_id")
        .annotate(total=Sum("delta"))
        .values("total")
    )
    held = (
        Reservation.objects.filter(
            sku_id=OuterRef("sku_id"), warehouse_id=OuterRef("warehouse_id"), status=Reservation.Status.ACTIVE
        )
        .values("sku_id")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    rows = (
        StockLevel.objects.annotate(
            moved=Coalesce(Subquery(moved), Value(0)), held=Coalesce(Subquery(held), Value(0))
        )
        .exclude(on_hand=F("moved"), reserved=F("held"))
        .select_related("sku", "warehouse")
        .order_by("pk")
    )
    return [
        {
            "stock_level_id": level.pk,
            "sku": level.sku.code,
            "warehouse": level.warehouse.code,
            "on_hand": level.on_hand,
            "movements_sum": level.moved,  # type: ignore[attr-defined]
            "reserved": level.reserved,
            "active_reservations": level.held,  # type: ignore[attr-defined]
        }
        for level in rows
    ]


def sku_exists(*, code: str) -> bool:
    return Sku.objects.filter(code=code).exists()


def reservations_overdue(*, now: dt.datetime | None = None) -> QuerySet[Reservation]:
    """Active reservations more than ``INVENTORY_OVERDUE_GRACE_SECONDS`` past their expiry:
    the sweep is not keeping up or not running (they never oversell: availability counts
    them until released, and commit re-checks expiry)."""
    from django.conf import settings

    from apps.core import clock

    grace = dt.timedelta(seconds=int(getattr(settings, "INVENTORY_OVERDUE_GRACE_SECONDS", 60)))
    moment = (now or clock.now()) - grace
    return Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__lt=moment)


def reservations_overdue_count() -> int:
    return reservations_overdue().count()
