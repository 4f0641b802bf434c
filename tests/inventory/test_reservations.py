"""Reserve, commit, release, extend and expire (issue 17 item 2-3), clock-driven."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.core.models import OutboxEvent
from apps.inventory import services
from apps.inventory.errors import (
    InsufficientStock,
    QuantityInvalid,
    ReservationExpired,
    ReservationNotFound,
    ReservationReleased,
)
from apps.inventory.models import Reservation, StockLevel, StockMovement
from apps.inventory.selectors import stock_drift
from tests.inventory.factories import stocked_sku

pytestmark = pytest.mark.django_db


def _levels(code: str) -> dict[str, tuple[int, int]]:
    return {
        lv.warehouse.code: (lv.on_hand, lv.reserved)
        for lv in StockLevel.objects.filter(sku__code=code).select_related("warehouse")
    }


def test_reserve_walks_warehouses_by_priority_and_splits_a_line(kr, clock):
    code = stocked_sku({"KR-A": 3, "KR-B": 5})

    rows = services.reservation_create(owner="order:1", lines=[(code, 2), (code, 2)], market=kr)

    assert [(r.warehouse.code, r.quantity, r.status) for r in rows] == [
        ("KR-A", 3, "active"),
        ("KR-B", 1, "active"),
    ]
    assert {r.expires_at for r in rows} == {clock.current + dt.timedelta(minutes=kr.reservation_ttl_minutes)}
    assert _levels(code) == {"KR-A": (3, 3), "KR-B": (5, 1)}
    event = OutboxEvent.objects.get(type="inventory.reserved")
    assert (event.aggregate_type, event.aggregate_id, event.aggregate_sequence, event.market) == (
        "stock_owner",
        "order:1",
        1,
        "KR",
    )
    assert [(line["warehouse"], line["quantity"]) for line in event.payload["lines"]] == [
        ("KR-A", 3),
        ("KR-B", 1),
    ]


def test_short_line_reserves_nothing_and_names_each_short_sku(kr, clock):
    plenty = stocked_sku({"KR-A": 10})
    scarce = stocked_sku({"KR-A": 1, "KR-B": 1})
    events = OutboxEvent.objects.count()

    with pytest.raises(InsufficientStock) as exc:
        services.reservation_create(
            owner="order:2", lines=[(plenty, 5), (scarce, 3), ("NOPE-1", 1)], market=kr
        )

    assert exc.value.params["items"] == [
        {"sku": "NOPE-1", "requested": 1, "available": 0},
        {"sku": scarce, "requested": 3, "available": 2},
    ]
    assert _levels(plenty) == {"KR-A": (10, 0)}
    assert _levels(scarce) == {"KR-A": (1, 0), "KR-B": (1, 0)}
    assert not Reservation.objects.exists()
    assert OutboxEvent.objects.count() == events


def test_other_markets_and_inactive_warehouses_are_not_drawn_from(kr, clock):
    code = stocked_sku({"KR-A": 1})
    from apps.inventory.models import Warehouse
    from apps.inventory.services import stock_level_create
    from tests.inventory.factories import WarehouseFactory

    sku_id = StockLevel.objects.get(sku__code=code).sku_id
    stock_level_create(sku_id=sku_id, warehouse=WarehouseFactory(code="US-X", market_id="US"), on_hand=50)
    closed = WarehouseFactory(code="KR-CLOSED", priority=1)
    stock_level_create(sku_id=sku_id, warehouse=closed, on_hand=50)
    Warehouse.objects.filter(pk=closed.pk).update(is_active=False)

    with pytest.raises(InsufficientStock) as exc:
        services.reservation_create(owner="order:3", lines=[(code, 2)], market=kr)

    assert exc.value.params["items"] == [{"sku": code, "requested": 2, "available": 1}]


@pytest.mark.parametrize("lines", [[], [("X", 0)], [("X", -1)], [("X", 1.5)], [("X", True)]])
def test_invalid_quantities_are_refused(kr, lines):
    with pytest.raises(QuantityInvalid):
        services.reservation_create(owner="order:4", lines=lines, market=kr)


def test_commit_takes_the_units_off_the_shelf_with_a_ledger_row_and_is_idempotent(kr, clock):
    code = stocked_sku({"KR-A": 3, "KR-B": 5})
    services.reservation_create(owner="order:5", lines=[(code, 4)], market=kr)

    first = services.reservation_commit(owner="order:5")
    again = services.reservation_commit(owner="order:5")

    assert [r.status for r in first] == ["committed", "committed"]
    assert [r.status for r in again] == ["committed", "committed"]
    assert _levels(code) == {"KR-A": (0, 0), "KR-B": (4, 0)}
    commits = StockMovement.objects.filter(kind="commit").order_by("warehouse__code")
    assert [(m.warehouse.code, m.delta, m.on_hand_before, m.on_hand_after, m.reference) for m in commits] == [
        ("KR-A", -3, 3, 0, "order:5"),
        ("KR-B", -1, 5, 4, "order:5"),
    ]
    assert OutboxEvent.objects.filter(type="inventory.committed").count() == 1
    assert stock_drift() == []


def test_release_gives_units_back_once_and_a_release_after_commit_is_a_no_op(kr, clock):
    code = stocked_sku({"KR-A": 3})
    services.reservation_create(owner="cart:a", lines=[(code, 2)], market=kr)
    services.reservation_create(owner="order:6", lines=[(code, 1)], market=kr)
    services.reservation_commit(owner="order:6")

    assert services.reservation_release(owner="cart:a", reason="cart emptied") == 1
    assert services.reservation_release(owner="cart:a", reason="cart emptied") == 0
    assert services.reservation_release(owner="order:6", reason="too late") == 0

    assert _levels(code) == {"KR-A": (2, 0)}
    assert Reservation.objects.get(owner="cart:a").release_reason == "cart emptied"
    assert OutboxEvent.objects.filter(type="inventory.released").count() == 1
    with pytest.raises(ReservationReleased):
        services.reservation_commit(owner="cart:a")
    with pytest.raises(ReservationNotFound):
        services.reservation_commit(owner="order:none")


def test_sweep_expires_only_due_reservations(kr, clock):
    code = stocked_sku({"KR-A": 5})
    services.reservation_create(owner="order:7", lines=[(code, 2)], market=kr, ttl=dt.timedelta(minutes=1))
    services.reservation_create(owner="order:8", lines=[(code, 1)], market=kr, ttl=dt.timedelta(minutes=10))

    clock.advance(seconds=59)
    assert services.reservations_expire_due() == 0
    clock.advance(seconds=1)
    assert services.reservations_expire_due() == 1
    assert services.reservations_expire_due() == 0

    assert dict(Reservation.objects.values_list("owner", "status")) == {
        "order:7": "expired",
        "order:8": "active",
    }
    assert _levels(code) == {"KR-A": (5, 1)}
    released = OutboxEvent.objects.get(type="inventory.released")
    assert released.payload["reason"] == "expired"


def test_countdown_expires_its_own_rows_only_when_due(kr, clock):
    code = stocked_sku({"KR-A": 5})
    ids = [r.pk for r in services.reservation_create(owner="order:9", lines=[(code, 2)], market=kr)]

    assert services.reservations_expire(reservation_ids=ids) == 0  # fired early (extended)
    clock.advance(minutes=kr.reservation_ttl_minutes)
    assert services.reservations_expire(reservation_ids=ids) == 1
    assert services.reservations_expire(reservation_ids=ids) == 0  # replayed task

    assert _levels(code) == {"KR-A": (5, 0)}


def test_extend_pushes_back_expiry_but_never_revives_an_expired_hold(kr, clock):
    code = stocked_sku({"KR-A": 5})
    services.reservation_create(owner="order:10", lines=[(code, 1)], market=kr, ttl=dt.timedelta(minutes=2))

    clock.advance(minutes=1)
    assert services.reservation_extend(owner="order:10", ttl=dt.timedelta(minutes=5)) == 1
    clock.advance(minutes=4)
    assert services.reservations_expire_due() == 0
    clock.advance(minutes=1)
    assert services.reservation_extend(owner="order:10") == 0
    assert services.reservations_expire_due() == 1


def test_an_overdue_hold_never_blocks_a_reserve(kr, clock):
    # expiry holds by predicate: the sweep has not run, the units are free all the same
    code = stocked_sku({"KR-A": 2})
    services.reservation_create(owner="cart:old", lines=[(code, 2)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=2)

    rows = services.reservation_create(owner="order:11", lines=[(code, 2)], market=kr)

    assert [r.quantity for r in rows] == [2]
    assert Reservation.objects.get(owner="cart:old").status == "expired"
    assert _levels(code) == {"KR-A": (2, 2)}
    assert stock_drift() == []


def test_commit_of_an_expired_reservation_re_reserves_when_stock_allows(kr, clock):
    code = stocked_sku({"KR-A": 3})
    services.reservation_create(owner="order:12", lines=[(code, 2)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=2)
    services.reservations_expire_due()

    rows = services.reservation_commit(owner="order:12")

    assert [r.status for r in rows] == ["committed"]
    assert _levels(code) == {"KR-A": (1, 0)}
    assert stock_drift() == []


def test_commit_of_an_expired_reservation_fails_when_the_units_are_gone(kr, clock):
    code = stocked_sku({"KR-A": 2})
    services.reservation_create(owner="order:13", lines=[(code, 2)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=2)
    services.reservation_create(owner="order:14", lines=[(code, 1)], market=kr)  # reclaims the overdue hold

    with pytest.raises(ReservationExpired) as exc:
        services.reservation_commit(owner="order:13")

    assert exc.value.params == {"owner": "order:13", "sku": code, "available": 1}
    assert Reservation.objects.get(owner="order:13").status == "expired"
    assert _levels(code) == {"KR-A": (2, 1)}


def test_an_active_hold_past_expiry_still_commits(kr, clock):
    # the sweep has not run: the units are still held, the payment may complete
    code = stocked_sku({"KR-A": 2})
    services.reservation_create(owner="order:15", lines=[(code, 2)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=5)

    services.reservation_commit(owner="order:15")

    assert _levels(code) == {"KR-A": (0, 0)}


def test_overdue_gauge_counts_holds_past_expiry_plus_grace(kr, clock):
    from apps.inventory.metrics import OVERDUE_RESERVATIONS

    code = stocked_sku({"KR-A": 5})
    services.reservation_create(owner="order:16", lines=[(code, 1)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(seconds=60 + 59)
    assert services.reservations_overdue_observe() == 0
    clock.advance(seconds=2)
    assert services.reservations_overdue_observe() == 1
    assert OVERDUE_RESERVATIONS._value.get() == 1


def test_an_owner_that_reserved_again_after_an_expiry_buys_only_the_live_hold(kr, clock):
    code = stocked_sku({"KR-A": 10})
    services.reservation_create(owner="cart:x", lines=[(code, 2)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=2)
    services.reservations_expire_due()
    services.reservation_create(owner="cart:x", lines=[(code, 3)], market=kr)

    services.reservation_commit(owner="cart:x")

    assert sorted(Reservation.objects.values_list("quantity", "status")) == [(2, "expired"), (3, "committed")]
    assert _levels(code) == {"KR-A": (7, 0)}
    assert stock_drift() == []


def test_insufficient_stock_problem_body_lists_each_short_sku(kr):
    from django.utils import translation

    from apps.core.problems import problem_body

    code = stocked_sku({"KR-A": 1})
    with pytest.raises(InsufficientStock) as exc:
        services.reservation_create(owner="order:17", lines=[(code, 2)], market=kr)

    with translation.override("ko"):
        body = problem_body(exc.value, instance="/api/v1/orders", request_id=None)

    assert (body["status"], body["code"], body["title"]) == (409, "inventory.insufficient_stock", "재고 부족")
    assert body["items"] == [{"sku": code, "requested": 2, "available": 1}]
    assert code in body["detail"]
