"""Inventory races across OS processes on PostgreSQL (issue 17 "Show"): the last units of a
SKU over two warehouses, commit/release at random afterwards, and expiry run by several
sweeps and countdowns at once. Skipped on SQLite-only runs (``require_postgres``)."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from django.db import connections

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.inventory import services
from apps.inventory.errors import InsufficientStock
from apps.inventory.models import Reservation, StockLevel
from apps.inventory.selectors import stock_drift
from apps.markets.models import Market
from tests.inventory.factories import stocked_sku
from tests.utils.processes import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
PROCESSES = 8
THREADS = 4


def _levels_ok(code: str) -> bool:
    return all(lv.reserved <= lv.on_hand for lv in StockLevel.objects.filter(sku__code=code))


def _reserve_in_threads(code: str, process: int, quantity: int) -> list[tuple[str, str, bool]]:
    """THREADS threads of this process each try to reserve ``quantity`` units at once.
    Returns (owner, outcome, reserved <= on_hand seen afterwards) per thread."""
    market = Market.objects.get(code="KR")
    connections.close_all()
    barrier = threading.Barrier(THREADS)
    out: list[tuple[str, str, bool]] = []

    def attempt(index: int) -> None:
        owner = f"race:{process}:{index}"
        try:
            barrier.wait(timeout=30)
            try:
                services.reservation_create(owner=owner, lines=[(code, quantity)], market=market)
                outcome = "reserved"
            except InsufficientStock as exc:
                outcome = exc.code
            out.append((owner, outcome, _levels_ok(code)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return out


def _settle(owners: list[str], seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    done = []
    for owner in owners:
        if rng.random() < 0.5:
            services.reservation_commit(owner=owner)
            done.append((owner, "committed"))
        else:
            services.reservation_release(owner=owner, reason="payment failed")
            done.append((owner, "released"))
    return done


@pytest.mark.parametrize(("quantity", "stock"), [(1, {"KR-A": 4, "KR-B": 3}), (2, {"KR-A": 3, "KR-B": 5})])
def test_last_units_over_two_warehouses_go_to_exactly_n_callers(require_postgres, quantity, stock):
    # given: N units of one SKU over two warehouses, and 32 callers in 8 processes x 4 threads
    code = stocked_sku(stock)
    total = sum(stock.values())

    # when: they all reserve at once
    results = [
        row
        for rows in run_concurrently(_reserve_in_threads, [(code, p, quantity) for p in range(PROCESSES)])
        for row in rows
    ]

    # then: exactly N units are held, never more than on hand, every loser told why
    outcomes = [outcome for _, outcome, _ in results]
    assert len(outcomes) == PROCESSES * THREADS
    assert outcomes.count("reserved") == total // quantity
    assert set(outcomes) == {"reserved", "inventory.insufficient_stock"}
    assert all(ok for _, _, ok in results)
    levels = list(StockLevel.objects.filter(sku__code=code))
    assert [(lv.on_hand, lv.reserved) for lv in sorted(levels, key=lambda lv: lv.pk)] == [
        (n, n) for n in stock.values()
    ]
    assert sum(Reservation.objects.filter(status="active").values_list("quantity", flat=True)) == total

    # and when: the winners commit or release at random, in parallel
    winners = sorted(owner for owner, outcome, _ in results if outcome == "reserved")
    settled = [
        row for rows in run_concurrently(_settle, [(winners[i::4], i) for i in range(4)]) for row in rows
    ]

    # then: on hand is what was not sold, nothing stays reserved, the ledger adds up
    sold = sum(quantity for _, how in settled if how == "committed")
    assert sum(lv.on_hand for lv in StockLevel.objects.filter(sku__code=code)) == total - sold
    assert sum(lv.reserved for lv in StockLevel.objects.filter(sku__code=code)) == 0
    assert stock_drift() == []


def _sweep(batch: int) -> int:
    total = 0
    while True:
        expired = services.reservations_expire_due(limit=batch)
        total += expired
        if not expired:
            return total


def _countdown(ids: list[int]) -> int:
    return services.reservations_expire(reservation_ids=ids)


def _many_due_reservations(count: int) -> tuple[str, list[int]]:
    market = Market.objects.get(code="KR")
    code = stocked_sku({"KR-A": count, "KR-B": count})
    ids = [
        r.pk
        for i in range(count)
        for r in services.reservation_create(owner=f"cart:{i}", lines=[(code, 1 + i % 2)], market=market)
    ]
    Reservation.objects.update(expires_at=clock.now() - dt.timedelta(seconds=1))
    return code, ids


def _released_once(ids: list[int]) -> None:
    lines = [
        line["reservation_id"]
        for event in OutboxEvent.objects.filter(type="inventory.released")
        for line in event.payload["lines"]
    ]
    assert sorted(lines) == sorted(ids)  # each reservation released by exactly one worker
    assert set(Reservation.objects.values_list("status", flat=True)) == {"expired"}


def test_two_sweeps_at_once_release_each_expired_reservation_exactly_once(require_postgres):
    code, ids = _many_due_reservations(40)

    counts = run_concurrently(_sweep, [(5,), (5,)])

    assert sum(counts) == len(ids)
    _released_once(ids)
    assert [lv.reserved for lv in StockLevel.objects.filter(sku__code=code)] == [0, 0]
    assert stock_drift() == []


def test_countdowns_and_sweeps_together_release_each_reservation_exactly_once(require_postgres):
    code, ids = _many_due_reservations(40)

    counts = run_concurrently(
        lambda_free_dispatch,
        [("sweep", 4), ("sweep", 7), ("countdown", ids[::2]), ("countdown", ids[1::2]), ("countdown", ids)],
    )

    assert sum(counts) == len(ids)
    _released_once(ids)
    assert [lv.reserved for lv in StockLevel.objects.filter(sku__code=code)] == [0, 0]
    assert stock_drift() == []


def lambda_free_dispatch(kind: str, arg: object) -> int:
    return _sweep(arg) if kind == "sweep" else _countdown(arg)  # type: ignore[arg-type]


def _publish_many(aggregate_id: str, count: int) -> int:
    from django.db import transaction

    from apps.core.outbox import publish

    for _ in range(count):
        with transaction.atomic():
            publish(
                type="test.happened",
                aggregate_type="test",
                aggregate_id=aggregate_id,
                market="KR",
                payload={},
            )
    return count


def test_outbox_numbers_stay_unique_when_processes_publish_for_one_aggregate(require_postgres):
    run_concurrently(_publish_many, [("same", 10)] * 6)

    events = OutboxEvent.objects.filter(aggregate_type="test", aggregate_id="same")
    assert sorted(events.values_list("aggregate_sequence", flat=True)) == list(range(1, 61))
    assert events.values("sequence").distinct().count() == 60
