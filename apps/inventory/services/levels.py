"""Stock levels and the stock ledger: opening rows, adjustments, transfers.

Every change of ``on_hand`` goes through :func:`_move`, which writes the ``StockMovement``
row in the same transaction, so ``on_hand`` = sum of movements always holds.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When

from apps.accounts.models import User
from apps.catalog.models import Sku
from apps.core import clock
from apps.core.compiled import CompiledUpdate, insert_many
from apps.core.outbox import publish
from apps.inventory import locks, metrics
from apps.inventory.errors import (
    AdjustmentInvalid,
    NegativeStock,
    OnHandBelowReserved,
    SkuNotFound,
    StockChanged,
    StockLevelExists,
    StockLevelNotFound,
    TransferInvalid,
    WarehouseNotFound,
)
from apps.inventory.models import StockLevel, StockMovement, Warehouse
from apps.markets.models import Market

Kind = StockMovement.Kind
#: Kinds ``stock_adjust`` accepts, with the sign their delta must have (0: either).
ADJUST_KINDS: dict[str, int] = {Kind.RECEIPT: 1, Kind.RETURN: 1, Kind.DAMAGE: -1, Kind.CORRECTION: 0}
REASON_MAX_LENGTH = StockMovement._meta.get_field("reason").max_length or 500
REFERENCE_MAX_LENGTH = StockMovement._meta.get_field("reference").max_length or 120


def low_stock_threshold_default() -> int:
    return int(getattr(settings, "INVENTORY_LOW_STOCK_THRESHOLD", settings.CATALOG_LOW_STOCK_THRESHOLD))


def threshold_of(level: StockLevel) -> int:
    return (
        level.low_stock_threshold if level.low_stock_threshold is not None else low_stock_threshold_default()
    )


def signal_low_stock(level: StockLevel, *, available_before: int) -> None:
    """Log and count a level that just crossed into low stock (not one already low)."""
    threshold = threshold_of(level)
    if available_before > threshold >= level.available:
        metrics.low_stock_crossed(
            sku=level.sku.code, warehouse=level.warehouse.code, available=level.available, threshold=threshold
        )


def warehouse_create(*, code: str, name: str, market: Market, priority: int = 100) -> Warehouse:
    return Warehouse.objects.create(code=code, name=name, market=market, priority=priority)


def _move(
    level: StockLevel,
    *,
    delta: int,
    kind: str,
    reason: str,
    reference: str = "",
    actor: User | None = None,
    release_reserved: int = 0,
    refused: type[NegativeStock] | type[OnHandBelowReserved] = NegativeStock,
) -> StockMovement:
    """Change ``on_hand`` of a locked level by ``delta`` (and ``reserved`` by
    ``-release_reserved``, for a commit) and append its ledger row.

    Expects the caller's transaction and ``level`` locked through ``locks`` (its values are
    current). Invariant kept: ``0 <= reserved <= on_hand`` and on_hand = sum of movements.
    Raises: inventory.negative_stock (or ``refused``) when the result would be below zero
    or below what stays reserved.
    """
    before, reserved_after = level.on_hand, level.reserved - release_reserved
    after = before + delta
    if after < 0 or after < reserved_after or reserved_after < 0:
        metrics.negative_refused(
            sku=level.sku.code,
            warehouse=level.warehouse.code,
            kind=kind,
            delta=delta,
            on_hand=before,
            reserved=level.reserved,
        )
        if refused is OnHandBelowReserved:
            raise OnHandBelowReserved(on_hand=after, reserved=level.reserved)
        raise NegativeStock(delta=delta, on_hand=before, reserved=level.reserved)
    now = clock.now()
    # Conditional on what was read under the lock; rowcount 0 would mean the lock was not held.
    updated = StockLevel.objects.filter(pk=level.pk, on_hand=before, reserved=level.reserved).update(
        on_hand=F("on_hand") + delta, reserved=F("reserved") - release_reserved, updated_at=now
    )
    if updated != 1:
        raise StockChanged(on_hand=before, expected=before)
    available_before = level.available
    level.on_hand, level.reserved, level.updated_at = after, reserved_after, now
    movement = StockMovement.objects.create(
        stock_level=level,
        sku_id=level.sku_id,
        warehouse_id=level.warehouse_id,
        delta=delta,
        kind=kind,
        on_hand_before=before,
        on_hand_after=after,
        reason=reason[:REASON_MAX_LENGTH],
        reference=reference[:REFERENCE_MAX_LENGTH],
        actor=actor,
        created_at=now,
    )
    if kind != Kind.COMMIT:
        signal_low_stock(level, available_before=available_before)
    return movement


#: ``_moves``' conditional UPDATE of several rows (compiled once per number of rows).
_MOVES_UPDATE = CompiledUpdate(
    StockLevel,
    lambda p: (
        StockLevel.objects.filter(
            reduce(
                or_,
                (
                    Q(pk=i, on_hand=o, reserved=r)
                    for i, o, r in zip(p.ids, p.on_hands, p.reserveds, strict=True)
                ),
            )
        ),
        {
            "on_hand": F("on_hand")
            + Case(*(When(pk=i, then=Value(d)) for i, d in zip(p.delta_ids, p.deltas, strict=True))),
            "reserved": F("reserved")
            - Case(*(When(pk=i, then=Value(r)) for i, r in zip(p.release_ids, p.releases, strict=True))),
            "updated_at": p.now,
        },
    ),
)


def _moves(
    steps: list[tuple[StockLevel, int, int]],
    *,
    kind: str,
    reason: str,
    reference: str = "",
    actor: User | None = None,
) -> list[StockMovement]:
    """:func:`_move` for several locked levels at once, each ``(level, delta,
    release_reserved)``: the same checks and ledger rows, in two statements whatever their
    number (one conditional UPDATE, one INSERT). All or nothing (the caller's transaction).
    Raises: inventory.negative_stock."""
    if len(steps) == 1:
        level, delta, release = steps[0]
        return [
            _move(
                level,
                delta=delta,
                kind=kind,
                reason=reason,
                reference=reference,
                actor=actor,
                release_reserved=release,
            )
        ]
    for level, delta, release in steps:
        before, reserved_after = level.on_hand, level.reserved - release
        after = before + delta
        if after < 0 or after < reserved_after or reserved_after < 0:
            metrics.negative_refused(
                sku=level.sku.code,
                warehouse=level.warehouse.code,
                kind=kind,
                delta=delta,
                on_hand=before,
                reserved=level.reserved,
            )
            raise NegativeStock(delta=delta, on_hand=before, reserved=level.reserved)
    now = clock.now()
    # Conditional on what each row held under the lock; fewer rows would mean a lock not held.
    ids = [lv.pk for lv, _d, _r in steps]
    updated = _MOVES_UPDATE.execute(
        ids=ids,
        on_hands=[lv.on_hand for lv, _d, _r in steps],
        reserveds=[lv.reserved for lv, _d, _r in steps],
        delta_ids=ids,
        deltas=[d for _lv, d, _r in steps],
        release_ids=ids,
        releases=[r for _lv, _d, r in steps],
        now=now,
    )
    if updated != len(steps):
        raise StockChanged(on_hand=steps[0][0].on_hand, expected=steps[0][0].on_hand)
    movements = []
    for level, delta, release in steps:
        before = level.on_hand
        available_before = level.available
        level.on_hand, level.reserved, level.updated_at = before + delta, level.reserved - release, now
        movements.append(
            StockMovement(
                stock_level=level,
                sku_id=level.sku_id,
                warehouse_id=level.warehouse_id,
                delta=delta,
                kind=kind,
                on_hand_before=before,
                on_hand_after=level.on_hand,
                reason=reason[:REASON_MAX_LENGTH],
                reference=reference[:REFERENCE_MAX_LENGTH],
                actor=actor,
                created_at=now,
            )
        )
        if kind != Kind.COMMIT:
            signal_low_stock(level, available_before=available_before)
    return insert_many(movements)


def movement_payload(level: StockLevel, movement: StockMovement) -> dict[str, Any]:
    return {
        "movement_id": movement.pk,
        "stock_level_id": level.pk,
        "sku": level.sku.code,
        "warehouse": level.warehouse.code,
        "kind": movement.kind,
        "delta": movement.delta,
        "on_hand_before": movement.on_hand_before,
        "on_hand_after": movement.on_hand_after,
        "reserved": level.reserved,
        "available": level.available,
        "reason": movement.reason,
        "reference": movement.reference,
        "actor_id": movement.actor_id,
    }


def _publish_adjusted(level: StockLevel, movement: StockMovement) -> None:
    publish(
        type="inventory.adjusted",
        aggregate_type="stock_level",
        aggregate_id=level.pk,
        market=level.warehouse.market_id,
        payload=movement_payload(level, movement),
    )


def _sku(code: str) -> Sku:
    sku = Sku.objects.filter(code=code).first()
    if sku is None:
        raise SkuNotFound(sku=code)
    return sku


def _warehouse(code: str) -> Warehouse:
    warehouse = Warehouse.objects.filter(code=code).first()
    if warehouse is None:
        raise WarehouseNotFound(warehouse=code)
    return warehouse


def _level_id(sku: Sku, warehouse: Warehouse, *, create: bool) -> int:
    """The stock row's id; ``create`` opens an empty row (on_hand 0) when there is none."""
    level_id = StockLevel.objects.filter(sku=sku, warehouse=warehouse).values_list("pk", flat=True).first()
    if level_id is not None:
        return level_id
    if not create:
        raise StockLevelNotFound(sku=sku.code, warehouse=warehouse.code)
    try:
        with transaction.atomic():
            return StockLevel.objects.create(sku=sku, warehouse=warehouse, on_hand=0, reserved=0).pk
    except IntegrityError:  # opened meanwhile by another transaction
        return StockLevel.objects.get(sku=sku, warehouse=warehouse).pk


@transaction.atomic
def stock_level_create(
    *, sku_id: int, warehouse: Warehouse, on_hand: int, actor: User | None = None
) -> StockLevel:
    """Open the stock row of a SKU in a warehouse with a first count (admin, demo data).

    Create-only: an existing row is never overwritten, so a second "add" can never reset
    reservations or put back sold units (counts change through ``stock_adjust``). A
    positive first count is a ``receipt`` movement, so on_hand = sum of movements.

    Locks: the unique (sku, warehouse) index. Raises: inventory.stock_level_exists.
    Emits: inventory.adjusted for the opening receipt.
    """
    try:
        with transaction.atomic():
            level = StockLevel.objects.create(sku_id=sku_id, warehouse=warehouse, on_hand=0, reserved=0)
    except IntegrityError as exc:
        if StockLevel.objects.filter(sku_id=sku_id, warehouse=warehouse).exists():
            raise StockLevelExists(warehouse=warehouse.code) from exc
        raise
    if on_hand:
        level = locks.stock_levels_qs_for_update([level.pk]).get()
        movement = _move(level, delta=on_hand, kind=Kind.RECEIPT, reason="Opening count", actor=actor)
        _publish_adjusted(level, movement)
    return level


@transaction.atomic
def stock_level_on_hand_set(
    *,
    level_id: int,
    on_hand: int,
    expected_on_hand: int | None = None,
    actor: User | None = None,
    reason: str = "Count corrected",
) -> StockLevel:
    """Set the counted on-hand quantity of an existing stock row (the admin's count edit):
    a ``correction`` movement of the difference, with ``stock_adjust``'s rules.
    ``reserved`` is never written, so a reservation that lands meanwhile is kept.
    ``expected_on_hand`` (what the editor saw) makes it compare-and-set: a sale committed
    meanwhile is not silently put back by an absolute value.

    Expects: may run inside the admin's transaction (not durable).
    Locks: the stock row (``locks.stock_levels_qs_for_update``).
    Raises: inventory.stock_changed, inventory.on_hand_below_reserved.
    Emits: inventory.adjusted (when the count changed).
    """
    level = locks.stock_levels_qs_for_update([level_id]).get()
    if expected_on_hand is not None and level.on_hand != expected_on_hand:
        raise StockChanged(on_hand=level.on_hand, expected=expected_on_hand)
    if on_hand < level.reserved:
        raise OnHandBelowReserved(on_hand=on_hand, reserved=level.reserved)
    delta = on_hand - level.on_hand
    if delta:
        movement = _move(
            level,
            delta=delta,
            kind=Kind.CORRECTION,
            reason=reason or "Count corrected",
            actor=actor,
            refused=OnHandBelowReserved,
        )
        _publish_adjusted(level, movement)
    return level


def stock_levels_bulk_create(*, rows: list[tuple[int, Warehouse, int]]) -> int:
    """Insert ``(sku_id, warehouse, on_hand)`` rows that do not exist yet (large seeds),
    each positive opening count with its ``receipt`` movement (no events: seed data).

    Expects the caller's transaction (the demo seed's)."""
    objs = [
        StockLevel(sku_id=sku_id, warehouse=wh, on_hand=on_hand, reserved=0) for sku_id, wh, on_hand in rows
    ]
    StockLevel.objects.bulk_create(objs, batch_size=2000, ignore_conflicts=True)
    sku_ids = sorted({sku_id for sku_id, _, _ in rows})
    now = clock.now()
    for start in range(0, len(sku_ids), 2000):
        chunk = sku_ids[start : start + 2000]
        fresh = (
            StockLevel.objects.filter(sku_id__in=chunk, on_hand__gt=0)
            .exclude(pk__in=StockMovement.objects.filter(sku_id__in=chunk).values("stock_level_id"))
            .values_list("pk", "sku_id", "warehouse_id", "on_hand")
        )
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    stock_level_id=pk,
                    sku_id=sku_id,
                    warehouse_id=wh_id,
                    delta=on_hand,
                    kind=Kind.RECEIPT,
                    on_hand_before=0,
                    on_hand_after=on_hand,
                    reason="Opening count",
                    created_at=now,
                )
                for pk, sku_id, wh_id, on_hand in fresh
            ],
            batch_size=2000,
        )
    return len(objs)


def _check_reason(reason: str, kind: str, delta: int) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentInvalid(kind=kind, delta=delta)
    return reason


@transaction.atomic(durable=True)
def stock_adjust(
    *,
    sku_code: str,
    warehouse_code: str,
    delta: int,
    kind: str,
    reason: str,
    actor: User | None,
    reference: str = "",
    expected_on_hand: int | None = None,
) -> StockLevel:
    """Receive, return, write off or correct stock of one SKU in one warehouse.

    ``kind``: receipt and return add (delta > 0), damage removes (delta < 0), correction
    either way. A receipt or return opens the stock row when there is none. Never below
    zero nor below what is reserved. ``expected_on_hand`` makes it compare-and-set.

    Locks: the stock row (``locks.stock_levels_qs_for_update``).
    Raises: inventory.sku_not_found, inventory.warehouse_not_found,
    inventory.stock_level_not_found, inventory.adjustment_invalid, inventory.negative_stock,
    inventory.stock_changed.
    Emits: inventory.adjusted (outbox, same transaction).
    """
    sign = ADJUST_KINDS.get(kind)
    if sign is None or delta == 0 or (sign and (delta > 0) != (sign > 0)):
        raise AdjustmentInvalid(kind=kind, delta=delta)
    reason = _check_reason(reason, kind, delta)
    sku, warehouse = _sku(sku_code), _warehouse(warehouse_code)
    level_id = _level_id(sku, warehouse, create=delta > 0 and kind != Kind.CORRECTION)
    level = locks.stock_levels_qs_for_update([level_id]).get()
    if expected_on_hand is not None and level.on_hand != expected_on_hand:
        raise StockChanged(on_hand=level.on_hand, expected=expected_on_hand)
    movement = _move(level, delta=delta, kind=kind, reason=reason, reference=reference, actor=actor)
    _publish_adjusted(level, movement)
    return level


@transaction.atomic(durable=True)
def stock_transfer(
    *,
    sku_code: str,
    from_warehouse_code: str,
    to_warehouse_code: str,
    quantity: int,
    reason: str,
    actor: User | None,
    reference: str = "",
) -> tuple[StockLevel, StockLevel]:
    """Move units of one SKU between two warehouses of a market: two legs
    (``transfer_out``, ``transfer_in``) in one transaction. Only available units move
    (never what is reserved). The destination row is opened when missing.

    Locks: both stock rows, in primary-key order.
    Raises: inventory.transfer_invalid, inventory.sku_not_found,
    inventory.warehouse_not_found, inventory.stock_level_not_found, inventory.negative_stock.
    Emits: inventory.adjusted twice (one per leg).
    """
    if quantity < 1 or from_warehouse_code == to_warehouse_code:
        raise TransferInvalid()
    reason = _check_reason(reason, Kind.TRANSFER_OUT, -quantity)
    sku = _sku(sku_code)
    source, target = _warehouse(from_warehouse_code), _warehouse(to_warehouse_code)
    if source.market_id != target.market_id:
        raise TransferInvalid()
    source_id = _level_id(sku, source, create=False)
    target_id = _level_id(sku, target, create=True)
    levels = {level.pk: level for level in locks.stock_levels_qs_for_update([source_id, target_id])}
    reference = reference or f"transfer:{source.code}->{target.code}"
    out_leg = _move(
        levels[source_id],
        delta=-quantity,
        kind=Kind.TRANSFER_OUT,
        reason=reason,
        reference=reference,
        actor=actor,
    )
    in_leg = _move(
        levels[target_id],
        delta=quantity,
        kind=Kind.TRANSFER_IN,
        reason=reason,
        reference=reference,
        actor=actor,
    )
    _publish_adjusted(levels[source_id], out_leg)
    _publish_adjusted(levels[target_id], in_leg)
    return levels[source_id], levels[target_id]
