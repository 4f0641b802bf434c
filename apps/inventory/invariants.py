"""Stock invariants checked by ``manage.py check_invariants`` (apps.core.invariants).

* ``on_hand`` is its ledger: the first movement's ``on_hand_before`` plus every ``delta``
  (a level bulk-loaded before its first movement starts its ledger there; for one created by
  the services that first ``on_hand_before`` is 0). A level without movements is its own
  opening balance.
* ``reserved`` is the quantity of its active reservations, and ``0 <= reserved <= on_hand``.
* every committed sale (a ``commit`` movement) has its ``inventory.committed`` event, while
  events are retained.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from apps.core.invariants import Invariant, events_retained_since
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation, StockLevel, StockMovement


def _tables() -> dict[str, str]:
    return {
        "level": StockLevel._meta.db_table,
        "movement": StockMovement._meta.db_table,
        "reservation": Reservation._meta.db_table,
    }


def _on_hand_off_ledger() -> QuerySet[Any, Any]:
    # One pass over the ledger grouped by level, joined once (a correlated subquery per
    # level is seconds on a large catalogue).
    off = RawSQL(  # noqa: S611 - only table names from the models are formatted in
        """SELECT l.id FROM {level} l
        JOIN (SELECT stock_level_id, SUM(delta) AS total, MIN(id) AS first_id
              FROM {movement} GROUP BY stock_level_id) m ON m.stock_level_id = l.id
        JOIN {movement} f ON f.id = m.first_id
        WHERE l.on_hand <> f.on_hand_before + m.total""".format(**_tables()),  # noqa: S608 - table names
        [],
    )
    return StockLevel.objects.filter(pk__in=off).order_by("pk").values_list("pk", flat=True)


def _reserved_off_reservations() -> QuerySet[Any, Any]:
    off = RawSQL(  # noqa: S611 - only table names from the models are formatted in
        """SELECT l.id FROM {level} l
        LEFT JOIN (SELECT sku_id, warehouse_id, SUM(quantity) AS total FROM {reservation}
                   WHERE status = %s GROUP BY sku_id, warehouse_id) r
               ON r.sku_id = l.sku_id AND r.warehouse_id = l.warehouse_id
        WHERE l.reserved <> COALESCE(r.total, 0)""".format(**_tables()),  # noqa: S608 - table names
        [Reservation.Status.ACTIVE.value],
    )
    return StockLevel.objects.filter(pk__in=off).order_by("pk").values_list("pk", flat=True)


def _reserved_out_of_range() -> QuerySet[Any, Any]:
    return (
        StockLevel.objects.filter(Q(reserved__lt=0) | Q(reserved__gt=F("on_hand")))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _commit_without_event() -> QuerySet[Any, Any]:
    event = OutboxEvent.objects.filter(
        aggregate_type="stock_owner", aggregate_id=OuterRef("reference"), type="inventory.committed"
    )
    return (
        StockMovement.objects.filter(kind=StockMovement.Kind.COMMIT, created_at__gte=events_retained_since())
        .exclude(Exists(event))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


INVARIANTS = [
    Invariant(
        "inventory.on_hand_matches_ledger",
        "stock level on_hand = first movement's on_hand_before + sum of its movements (stock level ids)",
        _on_hand_off_ledger,
    ),
    Invariant(
        "inventory.reserved_matches_reservations",
        "stock level reserved = quantity of its active reservations (stock level ids)",
        _reserved_off_reservations,
    ),
    Invariant(
        "inventory.reserved_within_on_hand",
        "0 <= reserved <= on_hand (stock level ids)",
        _reserved_out_of_range,
    ),
    Invariant(
        "inventory.commit_has_event",
        "every commit movement has its inventory.committed event (movement ids)",
        _commit_without_event,
    ),
]
