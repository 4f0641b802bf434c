"""Adjustments, transfers and the count edit write the append-only ledger; on_hand always
equals the sum of movements (``manage.py inventory_reconcile``)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from apps.core.models import OutboxEvent
from apps.inventory import services
from apps.inventory.errors import (
    AdjustmentInvalid,
    NegativeStock,
    OnHandBelowReserved,
    SkuNotFound,
    StockChanged,
    StockLevelNotFound,
    TransferInvalid,
    WarehouseNotFound,
)
from apps.inventory.models import StockLevel, StockMovement
from apps.inventory.selectors import low_stock_levels, stock_drift, stock_movement_list
from tests.accounts.factories import staff
from tests.inventory.factories import WarehouseFactory, stocked_sku

pytestmark = pytest.mark.django_db


def _level(code: str, wh: str = "KR-A") -> StockLevel:
    return StockLevel.objects.get(sku__code=code, warehouse__code=wh)


def test_opening_count_is_a_receipt_movement():
    code = stocked_sku({"KR-A": 7, "KR-B": 0})

    assert [(m.kind, m.delta, m.on_hand_before, m.on_hand_after) for m in StockMovement.objects.all()] == [
        ("receipt", 7, 0, 7)
    ]
    assert _level(code, "KR-B").on_hand == 0
    assert stock_drift() == []


def test_adjust_writes_movement_and_event_with_actor():
    manager = staff("inventory_manager")
    code = stocked_sku({"KR-A": 5})

    level = services.stock_adjust(
        sku_code=code,
        warehouse_code="KR-A",
        delta=-2,
        kind="damage",
        reason="crushed box",
        actor=manager,
        reference="RMA-9",
    )

    assert (level.on_hand, level.reserved) == (3, 0)
    movement = StockMovement.objects.latest("id")
    assert (movement.kind, movement.delta, movement.on_hand_before, movement.on_hand_after) == (
        "damage",
        -2,
        5,
        3,
    )
    assert (movement.actor, movement.reason, movement.reference) == (manager, "crushed box", "RMA-9")
    event = OutboxEvent.objects.filter(type="inventory.adjusted").latest("sequence")
    assert event.payload["movement_id"] == movement.pk
    assert (event.payload["on_hand_after"], event.payload["actor_id"]) == (3, manager.pk)


def test_receipt_opens_a_missing_row():
    code = stocked_sku({"KR-A": 1})
    WarehouseFactory(code="KR-NEW")

    services.stock_adjust(
        sku_code=code, warehouse_code="KR-NEW", delta=4, kind="receipt", reason="po 1", actor=None
    )

    assert _level(code, "KR-NEW").on_hand == 4
    assert stock_drift() == []


@pytest.mark.parametrize(
    ("kind", "delta"),
    [("receipt", -1), ("return", -1), ("damage", 1), ("correction", 0), ("commit", -1), ("transfer_in", 1)],
)
def test_kind_and_sign_must_agree(kind, delta):
    code = stocked_sku({"KR-A": 5})
    with pytest.raises(AdjustmentInvalid):
        services.stock_adjust(
            sku_code=code, warehouse_code="KR-A", delta=delta, kind=kind, reason="x", actor=None
        )
    assert StockMovement.objects.count() == 1


def test_blank_reason_unknown_sku_warehouse_and_missing_row_are_refused():
    code = stocked_sku({"KR-A": 5})
    WarehouseFactory(code="KR-EMPTY")
    cases = [
        ({"sku_code": code, "warehouse_code": "KR-A", "reason": "  "}, AdjustmentInvalid),
        ({"sku_code": "NOPE", "warehouse_code": "KR-A", "reason": "x"}, SkuNotFound),
        ({"sku_code": code, "warehouse_code": "NOPE", "reason": "x"}, WarehouseNotFound),
        ({"sku_code": code, "warehouse_code": "KR-EMPTY", "reason": "x"}, StockLevelNotFound),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            services.stock_adjust(delta=-1, kind="correction", actor=None, **kwargs)
    assert (_level(code).on_hand, StockMovement.objects.count()) == (5, 1)


def test_never_below_zero_nor_below_reserved(kr):
    code = stocked_sku({"KR-A": 5})
    services.reservation_create(owner="order:1", lines=[(code, 3)], market=kr)

    with pytest.raises(NegativeStock) as exc:
        services.stock_adjust(
            sku_code=code, warehouse_code="KR-A", delta=-3, kind="damage", reason="x", actor=None
        )

    assert exc.value.params == {"delta": -3, "on_hand": 5, "reserved": 3}
    assert (_level(code).on_hand, _level(code).reserved, StockMovement.objects.count()) == (5, 3, 1)
    services.stock_adjust(
        sku_code=code, warehouse_code="KR-A", delta=-2, kind="damage", reason="x", actor=None
    )
    assert _level(code).available == 0


def test_expected_on_hand_makes_it_compare_and_set():
    code = stocked_sku({"KR-A": 5})

    with pytest.raises(StockChanged) as exc:
        services.stock_adjust(
            sku_code=code,
            warehouse_code="KR-A",
            delta=1,
            kind="correction",
            reason="x",
            actor=None,
            expected_on_hand=4,
        )

    assert exc.value.params == {"on_hand": 5, "expected": 4}
    services.stock_adjust(
        sku_code=code,
        warehouse_code="KR-A",
        delta=1,
        kind="correction",
        reason="x",
        actor=None,
        expected_on_hand=5,
    )
    assert _level(code).on_hand == 6


def test_transfer_moves_available_units_in_two_legs(kr):
    code = stocked_sku({"KR-A": 5, "KR-B": 1})
    services.reservation_create(owner="order:2", lines=[(code, 2)], market=kr)

    with pytest.raises(NegativeStock):
        services.stock_transfer(
            sku_code=code,
            from_warehouse_code="KR-A",
            to_warehouse_code="KR-B",
            quantity=4,
            reason="x",
            actor=None,
        )
    source, target = services.stock_transfer(
        sku_code=code,
        from_warehouse_code="KR-A",
        to_warehouse_code="KR-B",
        quantity=3,
        reason="rebalance",
        actor=None,
    )

    assert (source.on_hand, source.reserved, target.on_hand) == (2, 2, 4)
    legs = StockMovement.objects.filter(kind__startswith="transfer").order_by("id")
    assert [(m.kind, m.delta, m.reference) for m in legs] == [
        ("transfer_out", -3, "transfer:KR-A->KR-B"),
        ("transfer_in", 3, "transfer:KR-A->KR-B"),
    ]
    assert stock_drift() == []


def test_transfer_needs_two_warehouses_of_one_market():
    code = stocked_sku({"KR-A": 5})
    WarehouseFactory(code="US-A", market_id="US")
    for target, quantity in (("KR-A", 1), ("US-A", 1), ("KR-A", 0)):
        with pytest.raises(TransferInvalid):
            services.stock_transfer(
                sku_code=code,
                from_warehouse_code="KR-A",
                to_warehouse_code=target,
                quantity=quantity,
                reason="x",
                actor=None,
            )


def test_count_edit_is_a_correction_movement_and_keeps_its_errors(kr):
    code = stocked_sku({"KR-A": 5})
    services.reservation_create(owner="order:3", lines=[(code, 2)], market=kr)
    level = _level(code)

    services.stock_level_on_hand_set(level_id=level.pk, on_hand=8, expected_on_hand=5)
    with pytest.raises(StockChanged):
        services.stock_level_on_hand_set(level_id=level.pk, on_hand=9, expected_on_hand=5)
    with pytest.raises(OnHandBelowReserved):
        services.stock_level_on_hand_set(level_id=level.pk, on_hand=1)

    movement = StockMovement.objects.latest("id")
    assert (movement.kind, movement.delta, movement.on_hand_after) == ("correction", 3, 8)
    assert stock_drift() == []


def test_movement_list_filters():
    manager = staff("inventory_manager")
    code = stocked_sku({"KR-A": 5, "KR-B": 5})
    services.stock_adjust(
        sku_code=code, warehouse_code="KR-B", delta=1, kind="return", reason="x", actor=manager
    )

    assert [m.kind for m in stock_movement_list(sku_code=code)] == ["return", "receipt", "receipt"]
    assert [m.kind for m in stock_movement_list(warehouse_code="KR-B", kind="return")] == ["return"]
    assert [m.actor_id for m in stock_movement_list(actor_id=manager.pk)] == [manager.pk]


def test_low_stock_levels_use_the_row_threshold_else_the_default(settings):
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 3
    low = stocked_sku({"KR-A": 3})
    fine = stocked_sku({"KR-A": 4})
    custom = stocked_sku({"KR-A": 10})
    StockLevel.objects.filter(sku__code=custom).update(low_stock_threshold=10)

    assert sorted(lv.sku.code for lv in low_stock_levels()) == sorted([low, custom])
    assert fine not in [lv.sku.code for lv in low_stock_levels(threshold=2)]


def test_reconcile_reports_drift_and_exits_non_zero():
    code = stocked_sku({"KR-A": 5})
    out = io.StringIO()
    call_command("inventory_reconcile", stdout=out)
    assert "matches" in out.getvalue()

    StockLevel.objects.filter(sku__code=code).update(on_hand=6)  # a write behind the ledger's back
    err, out = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("inventory_reconcile", "--json", stdout=out, stderr=err)

    assert exc.value.code == 1
    [row] = json.loads(out.getvalue())["drift"]
    assert (row["sku"], row["on_hand"], row["movements_sum"]) == (code, 6, 5)
