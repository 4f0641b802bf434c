"""Inventory use-cases: the only way stock changes (``from apps.inventory.services import ...``).

``levels``: opening rows, adjustments, transfers and the stock ledger;
``reservations``: reserve, commit, release, extend and expire.
"""

from apps.inventory.services.levels import (
    ADJUST_KINDS,
    low_stock_threshold_default,
    stock_adjust,
    stock_level_create,
    stock_level_on_hand_set,
    stock_levels_bulk_create,
    stock_transfer,
    warehouse_create,
)
from apps.inventory.services.reservations import (
    reservation_commit,
    reservation_commit_held,
    reservation_create,
    reservation_extend,
    reservation_hold,
    reservation_release,
    reservation_release_held,
    reservations_expire,
    reservations_expire_due,
    reservations_overdue_observe,
    stock_return_held,
)

__all__ = [
    "ADJUST_KINDS",
    "low_stock_threshold_default",
    "reservation_commit",
    "reservation_commit_held",
    "reservation_create",
    "reservation_extend",
    "reservation_hold",
    "reservation_release",
    "reservation_release_held",
    "reservations_expire",
    "reservations_expire_due",
    "reservations_overdue_observe",
    "stock_adjust",
    "stock_level_create",
    "stock_level_on_hand_set",
    "stock_levels_bulk_create",
    "stock_return_held",
    "stock_transfer",
    "warehouse_create",
]
