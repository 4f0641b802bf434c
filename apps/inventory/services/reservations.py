"""Reservations: reserve across the market's warehouses, commit after payment, release,
extend, expire (DESIGN.md §7 "Reservation", ADR 0006).

Concurrency: a reserve locks the candidate stock rows in primary-key order, then
allocates by warehouse priority with conditional UPDATEs (``reserved + q <= on_hand``).
Commit, release and expiry lock the owner's reservations (pk order) before the stock
rows; every status change is a compare-and-set, so a replayed task, a second sweep or a
countdown task racing the sweep changes each reservation exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import reduce
from operator import or_
from typing import Any

import structlog
from django.db import transaction
from django.db.models import Case, F, Min, Q, QuerySet, Value, When

from apps.accounts.models import User
from apps.catalog.models import Sku
from apps.core import clock
from apps.core.compiled import Compiled, CompiledUpdate, insert_many
from apps.core.outbox import publish
from apps.inventory import locks, metrics, selectors
from apps.inventory.errors import (
    InsufficientStock,
    QuantityInvalid,
    ReservationExpired,
    ReservationNotFound,
    ReservationReleased,
)
from apps.inventory.models import Reservation, StockLevel, StockMovement
from apps.inventory.services.levels import _move, _moves, signal_low_stock
from apps.markets.models import Market

logger = structlog.get_logger(__name__)
Status = Reservation.Status
#: Most units one reservation line may ask for (far above any cart; keeps sums in range).
MAX_LINE_QUANTITY = 1_000_000


def _sum_lines(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    wanted: dict[str, int] = defaultdict(int)
    for code, quantity in lines:
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= MAX_LINE_QUANTITY
        ):
            raise QuantityInvalid()
        wanted[str(code)] += quantity
    if not wanted or any(q > MAX_LINE_QUANTITY for q in wanted.values()):
        raise QuantityInvalid()
    return dict(sorted(wanted.items()))


def _ttl(market: Market, ttl: dt.timedelta | None) -> dt.timedelta:
    return ttl if ttl is not None else dt.timedelta(minutes=market.reservation_ttl_minutes)


def reservation_expires_at(
    *, market: Market, now: dt.datetime, ttl: dt.timedelta | None = None
) -> dt.datetime:
    """When a hold made ``now`` in ``market`` expires (``ttl`` or the market's): a caller
    that records the hold's expiry on its own row (an order's pay-by time) knows it before
    the hold, and hands it to ``reservation_hold``."""
    return now + _ttl(market, ttl)


def _allocate(
    wanted: dict[str, int], skus: dict[str, Sku], levels: list[StockLevel]
) -> tuple[list[tuple[StockLevel, int]], list[dict[str, Any]]]:
    """Walk each SKU's rows by warehouse priority, splitting a line where needed.
    Returns (plan, short items)."""
    by_sku: dict[int, list[StockLevel]] = defaultdict(list)
    for level in sorted(levels, key=lambda lv: (lv.warehouse.priority, lv.warehouse_id)):
        by_sku[level.sku_id].append(level)
    plan: list[tuple[StockLevel, int]] = []
    short: list[dict[str, Any]] = []
    for code, quantity in wanted.items():
        sku = skus.get(code)
        rows = by_sku.get(sku.pk, []) if sku else []
        remaining = quantity
        for level in rows:
            take = min(remaining, max(level.available, 0))
            if take:
                plan.append((level, take))
                remaining -= take
            if not remaining:
                break
        if remaining:
            short.append({"sku": code, "requested": quantity, "available": quantity - remaining})
    return plan, short


#: ``_release_rows``' statements (compiled once per number of rows): the rows' status by
#: one compare-and-set, their stock rows locked in primary-key order, and every stock row's
#: units given back by one conditional UPDATE.
_RELEASE_STATUS = CompiledUpdate(
    Reservation,
    lambda p: (
        Reservation.objects.filter(pk__in=p.pks, status=Status.ACTIVE),
        {"status": p.to, "release_reason": p.reason, "updated_at": p.now},
    ),
)
_RELEASE_LEVELS = Compiled(
    StockLevel,
    lambda p: (
        StockLevel.objects.filter(
            reduce(
                or_,
                (Q(sku_id=s, warehouse_id=w) for s, w in zip(p.sku_ids, p.warehouse_ids, strict=True)),
            )
        )
        .order_by("pk")
        .select_for_update(of=("self",))
        .values_list("pk", "sku_id", "warehouse_id", "reserved")
    ),
    write=True,
)
_RELEASE_UNITS = CompiledUpdate(
    StockLevel,
    lambda p: (
        StockLevel.objects.filter(
            reduce(
                or_,
                (Q(pk=i, reserved__gte=q) for i, q in zip(p.ids, p.quantities, strict=True)),
            )
        ),
        {
            "reserved": F("reserved")
            - Case(*(When(pk=i, then=Value(q)) for i, q in zip(p.sub_ids, p.subs, strict=True))),
            "updated_at": p.now,
        },
    ),
)


def _release_rows(
    reservations: Sequence[Reservation], *, to: str, reason: str, now: dt.datetime
) -> list[Reservation]:
    """Set active reservations to ``to`` (released / expired) and give their units back.

    Expects the caller's transaction, and ``reservations`` read ``active`` and locked by it
    (every caller selects them ``FOR UPDATE``): the status compare-and-set then moves every
    one of them, and only the transaction that moved a row gives its units back (exactly
    once). Four statements whatever the number of rows: the status, the stock rows locked
    in primary-key order, their units (a stock row without the units to give back is
    logged as a drift for reconcile to name, never driven below zero).
    """
    rows = sorted({r.pk: r for r in reservations if r.status == Status.ACTIVE}.values(), key=lambda r: r.pk)
    if not rows:
        return []
    reason = reason[:200]
    moved = _RELEASE_STATUS.execute(pks=[r.pk for r in rows], to=to, reason=reason, now=now)
    if moved != len(rows):  # unreachable while the rows are locked: roll everything back
        raise RuntimeError(f"reservations {[r.pk for r in rows]} changed under their lock")
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for reservation in rows:
        reservation.status, reservation.release_reason, reservation.updated_at = to, reason, now
        totals[(reservation.sku_id, reservation.warehouse_id)] += reservation.quantity
    pairs = sorted(totals)
    steps: list[tuple[int, int]] = []
    for level_id, sku_id, warehouse_id, reserved in _RELEASE_LEVELS.fetch(
        sku_ids=[sku_id for sku_id, _w in pairs], warehouse_ids=[warehouse_id for _s, warehouse_id in pairs]
    ):
        quantity = totals[(sku_id, warehouse_id)]
        if reserved < quantity:  # the CHECK would refuse it anyway
            logger.error("inventory.release_drift", stock_level_id=level_id, quantity=quantity)
        else:
            steps.append((level_id, quantity))
    if steps:
        ids, quantities = [pk for pk, _q in steps], [q for _pk, q in steps]
        _RELEASE_UNITS.execute(ids=ids, quantities=quantities, sub_ids=ids, subs=quantities, now=now)
    metrics.RESERVATIONS_RELEASED.labels(how=to).inc(len(rows))
    return rows


def _publish_released(owner: str, rows: list[Reservation], *, reason: str) -> None:
    publish(
        type="inventory.released",
        aggregate_type="stock_owner",
        aggregate_id=owner,
        market=rows[0].market_id,
        payload={
            "owner": owner,
            "reason": reason,
            "status": rows[0].status,
            "lines": [_line(r) for r in rows],
        },
    )


def _line(reservation: Reservation) -> dict[str, Any]:
    return {
        "reservation_id": reservation.pk,
        "sku": reservation.sku.code,
        "warehouse": reservation.warehouse.code,
        "quantity": reservation.quantity,
    }


def _reclaim_expired(level_ids: list[int], now: dt.datetime) -> int:
    """Expire active reservations past ``expires_at`` that hold units in these rows, so a
    reserve never fails for stock only an overdue hold keeps (expiry by predicate).
    Rows another transaction has locked (a sweep, a commit) are skipped, never waited for."""
    if not level_ids:
        return 0  # an empty Q() below would match every overdue hold of every SKU
    levels = StockLevel.objects.filter(pk__in=level_ids).values_list("sku_id", "warehouse_id")
    match = Q()
    for sku_id, warehouse_id in levels:
        match |= Q(sku_id=sku_id, warehouse_id=warehouse_id)
    due = Reservation.objects.filter(match, status=Status.ACTIVE, expires_at__lte=now).select_related(
        "sku", "warehouse"
    )
    rows = list(locks.reservations_qs_for_update(due, skip_locked=True))
    done = _release_rows(rows, to=Status.EXPIRED, reason="expired", now=now)
    by_owner: dict[str, list[Reservation]] = defaultdict(list)
    for reservation in done:
        by_owner[reservation.owner].append(reservation)
    for owner, owned in sorted(by_owner.items()):
        _publish_released(owner, owned, reason="expired")
    return len(done)


@transaction.atomic(durable=True)
def reservation_create(
    *,
    owner: str,
    lines: Sequence[tuple[str, int]],
    market: Market,
    ttl: dt.timedelta | None = None,
) -> list[Reservation]:
    """A reserve as its own use-case (the cart-less API, tests): see ``reservation_hold``."""
    return reservation_hold(owner=owner, lines=lines, market=market, ttl=ttl)


#: The candidate rows of a hold (the wanted SKUs, sold and active, in the market's active
#: warehouses), locked in primary-key order; compiled once per number of SKUs.
_HOLD_LEVELS = Compiled(
    StockLevel,
    lambda p: (
        StockLevel.objects.filter(
            sku__code__in=p.codes,
            sku__is_active=True,
            sku__product__is_active=True,
            warehouse__market_id=p.market,
            warehouse__is_active=True,
        )
        .select_related("warehouse", "sku")
        .order_by("pk")
        .select_for_update(of=("self",))
    ),
    write=True,
)
#: Every step of a hold in one conditional UPDATE (each row: its quantity and condition).
_HOLD_UPDATE = CompiledUpdate(
    StockLevel,
    lambda p: (
        StockLevel.objects.filter(
            reduce(
                or_,
                (Q(pk=i, on_hand__gte=F("reserved") + q) for i, q in zip(p.ids, p.quantities, strict=True)),
            )
        ),
        {
            "reserved": F("reserved")
            + Case(*(When(pk=i, then=Value(q)) for i, q in zip(p.add_ids, p.adds, strict=True))),
            "updated_at": p.now,
        },
    ),
)


@metrics.timed("hold")
def reservation_hold(
    *,
    owner: str,
    lines: Sequence[tuple[str, int]],
    market: Market,
    ttl: dt.timedelta | None = None,
    expires_at: dt.datetime | None = None,
    new_owner: bool = False,
) -> list[Reservation]:
    """Hold stock for ``owner`` (``"order:123"``, ``"cart:abc"``) until now + ``ttl``
    (default: the market's ``reservation_ttl_minutes``), or until ``expires_at`` when the
    caller computed it (``reservation_expires_at``). All or nothing.

    No task is queued per hold: beat's sweep (``reservations_expire_due``, every
    ``INVENTORY_EXPIRE_SWEEP_SECONDS``) expires it, and until then a short reserve reclaims
    it (expiry holds by predicate; ADR 0006). An order's hold goes with its order
    (``orders_expire_due``).

    ``new_owner=True``: ``owner`` was created in the caller's transaction (an order being
    placed), so no one else can publish for it yet: its event is numbered without the
    advisory lock (``publish(locked=True)``, one statement fewer).

    Runs in the caller's transaction (an order's creation holds its stock in the same
    transaction as the order row); ``reservation_create`` is the durable use-case.

    Quantities are summed per SKU; each SKU is covered from the market's active
    warehouses by priority, split over several when needed.

    Locks: the candidate stock rows, in primary-key order; then one conditional UPDATE
    ``reserved = reserved + q WHERE reserved + q <= on_hand`` per allocation step.
    Raises: inventory.insufficient_stock (each short SKU with what is available; nothing
    stays reserved), inventory.quantity_invalid.
    Emits: inventory.reserved (outbox, same transaction).
    """
    wanted = _sum_lines(lines)
    now = clock.now()
    if expires_at is None:
        expires_at = reservation_expires_at(market=market, now=now, ttl=ttl)
    # The candidate rows (the wanted SKUs, sold and active, in the market's active
    # warehouses) found and locked in one statement, in primary-key order (the locking
    # rows come sorted: PostgreSQL locks them as the sort emits them). A SKU without any
    # such row is short like one whose rows are empty.
    levels = _HOLD_LEVELS.fetch(codes=list(wanted), market=market.code)
    skus = {level.sku.code: level.sku for level in levels}
    candidate_ids = [level.pk for level in levels]
    plan, short = _allocate(wanted, skus, levels)
    if short and _reclaim_expired(candidate_ids, now):
        levels = list(locks.stock_levels_qs_for_update(candidate_ids))
        plan, short = _allocate(wanted, skus, levels)
    if short:
        metrics.reservation_refused(owner=owner, items=short)
        raise InsufficientStock(skus=", ".join(item["sku"] for item in short), items=short)

    reservations: list[Reservation] = []
    steps = sorted(plan, key=lambda step: step[0].pk)
    # Invariant: reserved <= on_hand. The rows are locked, so this cannot miss; the
    # conditions (and the CHECK) still refuse rather than oversell if it ever did. One
    # conditional UPDATE for every step (each row: its own quantity and condition).
    ids, quantities = [level.pk for level, _q in steps], [quantity for _lv, quantity in steps]
    updated = _HOLD_UPDATE.execute(ids=ids, quantities=quantities, add_ids=ids, adds=quantities, now=now)
    if updated != len(steps):
        short_level, wanted_quantity = next(((lv, q) for lv, q in steps if lv.available < q), steps[0])
        raise InsufficientStock(
            skus=short_level.sku.code,
            items=[
                {
                    "sku": short_level.sku.code,
                    "requested": wanted_quantity,
                    "available": short_level.available,
                }
            ],
        )
    for level, quantity in steps:
        available_before = level.available
        level.reserved += quantity
        signal_low_stock(level, available_before=available_before)
        reservations.append(
            Reservation(
                sku=level.sku,
                warehouse=level.warehouse,
                market=market,
                owner=owner,
                quantity=quantity,
                status=Status.ACTIVE,
                expires_at=expires_at,
                created_at=now,
                updated_at=now,
            )
        )
    reservations = insert_many(reservations)
    if connection_lacks_returning_ids(reservations):
        reservations = list(
            Reservation.objects.filter(owner=owner, created_at=now, status=Status.ACTIVE)
            .select_related("sku", "warehouse")
            .order_by("pk")
        )
    metrics.RESERVATIONS.labels(outcome="reserved").inc()
    publish(
        type="inventory.reserved",
        aggregate_type="stock_owner",
        locked=new_owner,
        aggregate_id=owner,
        market=market.code,
        payload={"owner": owner, "expires_at": expires_at, "lines": [_line(r) for r in reservations]},
    )
    return reservations


def connection_lacks_returning_ids(rows: list[Reservation]) -> bool:
    return any(row.pk is None for row in rows)


def _owned(owner: str, *statuses: str) -> QuerySet[Reservation]:
    return Reservation.objects.filter(owner=owner, status__in=statuses).select_related("sku", "warehouse")


#: ``reservation_commit_held``'s statements, compiled once per number of rows.
_COMMIT_ROWS = Compiled(
    Reservation,
    lambda p: locks.reservations_qs_for_update(
        _owned(p.owner, Status.ACTIVE, Status.EXPIRED, Status.COMMITTED)
    ),
    write=True,
)
_COMMIT_LEVELS = Compiled(
    StockLevel,
    lambda p: (
        StockLevel.objects.filter(sku_id__in=p.sku_ids, warehouse_id__in=p.warehouse_ids)
        .order_by("pk")
        .select_for_update(of=("self",))
    ),
    write=True,
)
_COMMIT_UPDATE = CompiledUpdate(
    Reservation,
    lambda p: (
        Reservation.objects.filter(
            reduce(or_, (Q(pk=pk, status=status) for pk, status in zip(p.pks, p.statuses, strict=True)))
        ),
        {"status": p.committed, "updated_at": p.now},
    ),
)


@transaction.atomic(durable=True)
def reservation_commit(*, owner: str, actor: User | None = None) -> list[Reservation]:
    """The commit as its own use-case: see ``reservation_commit_held``."""
    return reservation_commit_held(owner=owner, actor=actor)


@metrics.timed("commit")
def reservation_commit_held(*, owner: str, actor: User | None = None) -> list[Reservation]:
    """Runs in the caller's transaction (an order's payment commits its stock with the
    payment). Turn the owner's held units into a sale after payment: ``on_hand -= q, reserved -= q``
    with a ``commit`` movement per row. Idempotent: committed rows are returned as they are.

    A reservation that expired is re-reserved from its warehouse when the units are still
    available there (never selling stock it no longer holds); otherwise nothing commits.
    Only the owner's live hold commits: its active rows, or, when none is active, the rows of
    its latest reserve (older expired rounds of the same owner are history, not a purchase).

    Locks: the owner's reservations (pk order), then their stock rows (pk order).
    Raises: inventory.reservation_not_found, inventory.reservation_expired,
    inventory.reservation_released.
    Emits: inventory.committed (outbox, same transaction), when anything committed.
    """
    rows = _COMMIT_ROWS.fetch(owner=owner)
    if not rows:
        if Reservation.objects.filter(owner=owner, status=Status.RELEASED).exists():
            raise ReservationReleased(owner=owner)
        raise ReservationNotFound(owner=owner)
    now = clock.now()
    # The owner's live hold: its active rows; without any, its latest reserve that expired
    # (an owner that reserved again after an expiry must not buy the old lines too).
    pending = [r for r in rows if r.status == Status.ACTIVE]
    if not pending:
        expired = [r for r in rows if r.status == Status.EXPIRED]
        latest = max((r.created_at for r in expired), default=None)
        pending = [r for r in expired if r.created_at == latest]
    if not pending:
        return sorted(rows, key=lambda r: r.pk)
    # Their stock rows found and locked in one statement, in primary-key order.
    # (Their SKU and warehouse are the reservations', already read: not joined again.)
    levels = {
        (lv.sku_id, lv.warehouse_id): lv
        for lv in _COMMIT_LEVELS.fetch(
            sku_ids=sorted({r.sku_id for r in pending}),
            warehouse_ids=sorted({r.warehouse_id for r in pending}),
        )
    }
    for r in pending:
        level = levels.get((r.sku_id, r.warehouse_id))
        if level is not None:
            level.sku, level.warehouse = r.sku, r.warehouse
    pending = sorted(pending, key=lambda r: levels[(r.sku_id, r.warehouse_id)].pk)
    for reservation in pending:
        level = levels[(reservation.sku_id, reservation.warehouse_id)]
        if reservation.status != Status.ACTIVE and level.available < reservation.quantity:
            raise ReservationExpired(owner=owner, sku=reservation.sku.code, available=max(level.available, 0))
    # All rows committed by one compare-and-set on the status each had (never twice).
    moved = _COMMIT_UPDATE.execute(
        pks=[r.pk for r in pending], statuses=[r.status for r in pending], committed=Status.COMMITTED, now=now
    )
    if moved != len(pending):  # unreachable while the rows are locked: roll everything back
        raise RuntimeError(f"reservations of {owner} changed under their lock")
    committed: list[Reservation] = []
    # Rows of one stock level (an owner that reserved a SKU twice) fold into one step.
    steps: dict[int, list[Any]] = {}
    for reservation in pending:
        level = levels[(reservation.sku_id, reservation.warehouse_id)]
        step = steps.setdefault(level.pk, [level, 0, 0])
        step[1] -= reservation.quantity
        step[2] += reservation.quantity if reservation.status == Status.ACTIVE else 0
        reservation.status, reservation.updated_at = Status.COMMITTED, now
        committed.append(reservation)
    _moves(
        [(lv, delta, release) for lv, delta, release in steps.values()],
        kind=StockMovement.Kind.COMMIT,
        reason="Sale committed",
        reference=owner,
        actor=actor,
    )
    if committed:
        metrics.RESERVATIONS_RELEASED.labels(how="committed").inc(len(committed))
        publish(
            type="inventory.committed",
            aggregate_type="stock_owner",
            aggregate_id=owner,
            market=committed[0].market_id,
            payload={"owner": owner, "lines": [_line(r) for r in committed]},
        )
    return sorted(rows, key=lambda r: r.pk)


#: ``reservation_release_held``'s rows: the owner's active reservations, locked in pk order.
_RELEASE_OWNED = Compiled(
    Reservation,
    lambda p: locks.reservations_qs_for_update(_owned(p.owner, Status.ACTIVE)),
    write=True,
)


@transaction.atomic(durable=True)
def reservation_release(*, owner: str, reason: str) -> int:
    """The release as its own use-case: see ``reservation_release_held``."""
    return reservation_release_held(owner=owner, reason=reason)


def reservation_release_held(*, owner: str, reason: str) -> int:
    """Runs in the caller's transaction (an order's cancellation). Give back the units the owner still holds (cart emptied, order cancelled).
    Idempotent: nothing active is a no-op (a release after a commit is logged).

    Locks: the owner's active reservations (pk order), then their stock rows (pk order).
    Raises: nothing.
    Emits: inventory.released (outbox, same transaction), when anything was released.
    """
    rows = _RELEASE_OWNED.fetch(owner=owner)
    done = _release_rows(rows, to=Status.RELEASED, reason=reason or "released", now=clock.now())
    if done:
        _publish_released(owner, done, reason=reason or "released")
    elif Reservation.objects.filter(owner=owner, status=Status.COMMITTED).exists():
        logger.info("inventory.release_after_commit_ignored", flow="reservation", owner=owner, reason=reason)
    return len(done)


def stock_return_held(
    *, owner: str, reason: str, actor: User | None = None, quantities: dict[str, int] | None = None
) -> list[StockMovement]:
    """Put sold units back on hand (a paid order cancelled before shipping): a ``return``
    movement per committed reservation row, into the warehouse it was sold from.

    ``quantities`` (SKU code -> units) limits the return; by default every committed unit
    of ``owner`` comes back. Runs in the caller's transaction; the caller guarantees it
    returns an owner's units once (an order's cancellation is a compare-and-set).
    Locks: the stock rows, in primary-key order. Emits: inventory.adjusted per row.
    """
    rows = list(
        Reservation.objects.filter(owner=owner, status=Status.COMMITTED)
        .select_related("sku", "warehouse")
        .order_by("pk")
    )
    left = dict(quantities) if quantities is not None else None
    wanted: list[tuple[Reservation, int]] = []
    for reservation in rows:
        quantity = reservation.quantity
        if left is not None:
            quantity = min(quantity, left.get(reservation.sku.code, 0))
            left[reservation.sku.code] = left.get(reservation.sku.code, 0) - quantity
        if quantity > 0:
            wanted.append((reservation, quantity))
    if not wanted:
        return []
    levels = {
        (lv.sku_id, lv.warehouse_id): lv
        for lv in locks.stock_levels_qs_for_update(
            StockLevel.objects.filter(
                sku_id__in={r.sku_id for r, _ in wanted}, warehouse_id__in={r.warehouse_id for r, _ in wanted}
            ).values_list("pk", flat=True)
        )
    }
    movements = []
    for reservation, quantity in sorted(wanted, key=lambda w: levels[(w[0].sku_id, w[0].warehouse_id)].pk):
        level = levels[(reservation.sku_id, reservation.warehouse_id)]
        movement = _move(
            level, delta=quantity, kind=StockMovement.Kind.RETURN, reason=reason, reference=owner, actor=actor
        )
        movements.append(movement)
        publish(
            type="inventory.adjusted",
            aggregate_type="stock_level",
            aggregate_id=level.pk,
            market=level.warehouse.market_id,
            payload={
                "movement_id": movement.pk,
                "stock_level_id": level.pk,
                "sku": level.sku.code,
                "warehouse": level.warehouse.code,
                "kind": StockMovement.Kind.RETURN,
                "delta": quantity,
                "on_hand_before": movement.on_hand_before,
                "on_hand_after": movement.on_hand_after,
                "reserved": level.reserved,
                "available": level.on_hand - level.reserved,
                "reason": reason,
                "reference": owner,
                "actor_id": actor.pk if actor is not None else None,
            },
        )
    return movements


@transaction.atomic(durable=True)
def reservation_extend(*, owner: str, ttl: dt.timedelta | None = None) -> int:
    """Push back the expiry of the owner's unexpired holds (a payment in progress) to
    now + ``ttl`` (default: the market's TTL). An expired hold is not revived.

    Locks: none; one compare-and-set UPDATE (``status = active AND expires_at > now``).
    Emits: nothing.
    """
    now = clock.now()
    rows = list(
        Reservation.objects.filter(owner=owner, status=Status.ACTIVE, expires_at__gt=now).select_related(
            "market"
        )
    )
    if not rows:
        return 0
    expires_at = now + _ttl(rows[0].market, ttl)
    ids = [r.pk for r in rows]
    count = Reservation.objects.filter(pk__in=ids, status=Status.ACTIVE, expires_at__gt=now).update(
        expires_at=expires_at, updated_at=now
    )
    return count


def _expire(due: QuerySet[Reservation], *, limit: int) -> int:
    now = clock.now()
    rows = list(
        locks.reservations_qs_for_update(
            due.filter(status=Status.ACTIVE, expires_at__lte=now).select_related("sku", "warehouse"),
            skip_locked=True,
        )[:limit]
    )
    done = _release_rows(rows, to=Status.EXPIRED, reason="expired", now=now)
    by_owner: dict[str, list[Reservation]] = defaultdict(list)
    for reservation in done:
        by_owner[reservation.owner].append(reservation)
    for owner, owned in sorted(by_owner.items()):
        _publish_released(owner, owned, reason="expired")
    return len(done)


@transaction.atomic(durable=True)
def reservations_expire(*, reservation_ids: list[int]) -> int:
    """Expire these reservations if they are still active and due (the countdown task
    that reserves queued before the sweep became the only expiry; operators).

    Locks: the due rows (pk order, SKIP LOCKED on PostgreSQL: a sweep holding one expires it).
    Emits: inventory.released (reason ``expired``) per owner.
    """
    return _expire(Reservation.objects.filter(pk__in=reservation_ids), limit=len(reservation_ids))


@transaction.atomic(durable=True)
def reservations_expire_due(*, limit: int = 500) -> int:
    """The sweep: expire up to ``limit`` active reservations past ``expires_at``. Safe on
    several workers at once (SKIP LOCKED on PostgreSQL; on SQLite the IMMEDIATE transaction
    serializes) and with a queued countdown task (status compare-and-set).

    Locks: the due rows (pk order, SKIP LOCKED), then their stock rows (pk order).
    Emits: inventory.released (reason ``expired``) per owner.
    """
    return _expire(Reservation.objects.all(), limit=limit)


def reservations_overdue_observe() -> int:
    """Count active reservations past expiry + the grace period (default one minute) and
    publish the gauge and, when any, a warning: the sweep is not keeping up or not running."""
    now = clock.now()
    overdue = selectors.reservations_overdue(now=now)
    oldest = overdue.aggregate(oldest=Min("expires_at"))["oldest"]
    count = overdue.count()
    metrics.overdue_observed(count=count, oldest_seconds=(now - oldest).total_seconds() if oldest else None)
    return count
