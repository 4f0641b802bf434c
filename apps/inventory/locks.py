"""Row locks of the inventory tables, always taken in primary-key order so that two
transactions touching the same rows never deadlock (STYLE.md "Counters").

Lock order across tables: reservations before stock levels (commit, release, the sweep);
a reserve holds stock levels only and never waits for a reservation lock (SKIP LOCKED).
On SQLite ``select_for_update`` is a no-op: the IMMEDIATE write transaction serializes.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet

from apps.inventory.models import Reservation, StockLevel


def stock_levels_qs_for_update(ids: Iterable[int]) -> QuerySet[StockLevel]:
    return (
        StockLevel.objects.filter(pk__in=sorted(set(ids)))
        .select_related("warehouse", "sku")
        .order_by("pk")
        .select_for_update(of=("self",))
    )


def reservations_qs_for_update(
    qs: QuerySet[Reservation], *, skip_locked: bool = False
) -> QuerySet[Reservation]:
    """``qs`` locked in primary-key order; ``skip_locked`` (PostgreSQL) leaves rows another
    transaction holds to that transaction (the sweep, a reserve reclaiming expired rows)."""
    qs = qs.order_by("pk")
    if connection.vendor == "postgresql":
        return qs.select_for_update(skip_locked=skip_locked, of=("self",))
    return qs
