"""Staff inventory API (API.md "Inventory"): stock per warehouse, adjustments, the audit."""

from __future__ import annotations

import pytest

from apps.accounts import tokens
from apps.core.models import OutboxEvent
from apps.inventory import services
from apps.inventory.models import StockLevel, StockMovement
from tests.accounts.factories import staff
from tests.inventory.factories import stocked_sku

pytestmark = pytest.mark.django_db
URL = "/api/v1/inventory/adjustments"


@pytest.fixture
def manager():
    return staff("inventory_manager")


@pytest.fixture
def client(api_client, manager):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(manager)}")
    return api_client


def _state(code: str) -> tuple:
    return (
        sorted(StockLevel.objects.filter(sku__code=code).values_list("on_hand", "reserved")),
        StockMovement.objects.count(),
        OutboxEvent.objects.count(),
    )


def test_stock_per_warehouse(client, kr):
    code = stocked_sku({"KR-A": 5, "KR-B": 2})
    services.reservation_create(owner="order:1", lines=[(code, 6)], market=kr)

    response = client.get(f"/api/v1/inventory/stock/{code}")

    assert response.status_code == 200
    body = response.json()
    assert body["sku"] == code
    assert [(lv["warehouse"], lv["on_hand"], lv["reserved"], lv["available"]) for lv in body["levels"]] == [
        ("KR-A", 5, 5, 0),
        ("KR-B", 2, 1, 1),
    ]
    assert client.get("/api/v1/inventory/stock/NOPE-1").json()["code"] == "inventory.sku_not_found"


def test_adjustment_creates_a_movement_and_answers_201(client, manager):
    code = stocked_sku({"KR-A": 5})

    response = client.post(
        URL,
        {
            "sku": code,
            "warehouse": "KR-A",
            "delta": 3,
            "kind": "receipt",
            "reason": "PO-77",
            "expected_on_hand": 5,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["level"]["on_hand"], body["movement"]["delta"], body["movement"]["on_hand_after"]) == (
        8,
        3,
        8,
    )
    assert body["movement"]["actor"] == {"id": manager.pk, "email": manager.email}
    assert [lv["on_hand"] for lv in body["levels"]] == [8]


def test_adjustment_is_idempotent_with_a_key(client):
    code = stocked_sku({"KR-A": 5})
    body = {"sku": code, "warehouse": "KR-A", "delta": 1, "kind": "return", "reason": "returned"}

    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="adj-1")
    again = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="adj-1")

    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
    assert StockLevel.objects.get(sku__code=code).on_hand == 6


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"sku": "NOPE-1"}, 404, "inventory.sku_not_found", None),
        ({"warehouse": "NOPE"}, 404, "inventory.warehouse_not_found", None),
        ({"delta": 0}, 400, "request.invalid", "delta"),
        ({"delta": "1.5"}, 400, "request.invalid", "delta"),
        ({"delta": "many"}, 400, "request.invalid", "delta"),
        ({"reason": None}, 400, "request.invalid", "reason"),
        ({"reason": "   "}, 400, "request.invalid", "reason"),
        ({"reason": "x" * 10_000}, 400, "request.invalid", "reason"),
        ({"kind": "commit"}, 400, "request.invalid", "kind"),
        ({"kind": "damage"}, 400, "inventory.adjustment_invalid", None),
        ({"sku": "x" * 10_000}, 400, "request.invalid", "sku"),
        ({"delta": -6}, 409, "inventory.negative_stock", None),
        ({"expected_on_hand": 4}, 409, "inventory.stock_changed", None),
    ],
)
def test_bad_input_is_a_localized_problem_and_changes_nothing(client, change, status, code, field):
    sku = stocked_sku({"KR-A": 5})
    body = {"sku": sku, "warehouse": "KR-A", "delta": 2, "kind": "correction", "reason": "count"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    before = _state(sku)

    response = client.post(URL, body, format="json", HTTP_ACCEPT_LANGUAGE="ko")

    assert response.status_code == status
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    assert response["Content-Language"] == "ko"
    if field:
        assert {e["field"] for e in problem["errors"]} == {field}
    assert len(response.content) < 3000  # a 10,000-character value is never echoed whole
    assert _state(sku) == before


def test_problem_title_follows_the_callers_language(client, manager):
    sku = stocked_sku({"KR-A": 5})
    body = {"sku": sku, "warehouse": "KR-A", "delta": -9, "kind": "damage", "reason": "x"}

    manager.locale = "ko"
    manager.save(update_fields=["locale"])
    ko = client.post(URL, body, format="json").json()
    manager.locale = "en"
    manager.save(update_fields=["locale"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(manager)}")  # locale claim
    en = client.post(URL, body, format="json").json()

    assert (ko["title"], en["title"]) == ("재고가 음수가 됩니다", "Stock would go negative")


def test_audit_list_filters_and_pins_its_queries(client, manager, django_assert_num_queries):
    a = stocked_sku({"KR-A": 5, "KR-B": 5})
    b = stocked_sku({"KR-A": 5})
    services.stock_adjust(
        sku_code=a, warehouse_code="KR-B", delta=-1, kind="damage", reason="x", actor=manager
    )
    services.stock_adjust(
        sku_code=b, warehouse_code="KR-A", delta=2, kind="receipt", reason="y", actor=manager
    )
    client.get(URL)  # warm the token user lookup caches alike

    with django_assert_num_queries(5):  # the caller, its two permission sets, its market scope, one page
        everything = client.get(URL).json()
    by_sku = client.get(URL, {"sku": a}).json()
    by_wh_kind = client.get(URL, {"warehouse": "KR-B", "kind": "damage"}).json()
    by_actor = client.get(URL, {"actor": manager.pk}).json()
    far_future = client.get(URL, {"created_from": "2999-01-01T00:00:00Z"}).json()

    assert [m["kind"] for m in everything["results"]] == [
        "receipt",
        "damage",
        "receipt",
        "receipt",
        "receipt",
    ]
    assert {m["sku"] for m in by_sku["results"]} == {a}
    assert [(m["warehouse"], m["delta"]) for m in by_wh_kind["results"]] == [("KR-B", -1)]
    assert [m["reason"] for m in by_actor["results"]] == ["y", "x"]
    assert far_future["results"] == []
    assert client.get(URL, {"limit": 2}).json()["next"] is not None


@pytest.mark.parametrize(
    "query", [{"kind": "stolen"}, {"actor": "me"}, {"created_from": "yesterday"}, {"sku": "a b"}]
)
def test_audit_list_refuses_bad_filters(client, query):
    response = client.get(URL, query)

    assert response.status_code == 400
    assert response.json()["code"] == "request.invalid"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_audit_cannot_be_edited_or_deleted_through_the_api(client, method):
    stocked_sku({"KR-A": 5})
    before = list(StockMovement.objects.values_list("pk", "delta", "reason"))

    response = getattr(client, method)(URL, {"delta": 9, "reason": "rewrite"}, format="json")

    assert response.status_code == 405
    assert list(StockMovement.objects.values_list("pk", "delta", "reason")) == before


def test_a_manager_scoped_to_one_market_sees_and_moves_only_its_stock_through_the_api(api_client):
    code = stocked_sku({"KR-A": 5})
    us = stocked_sku({"US-NJ": 6}, market="US")
    services.stock_adjust(
        sku_code=us, warehouse_code="US-NJ", delta=1, kind="receipt", reason="PO-1", actor=None
    )
    scoped = staff("inventory_manager", market="KR")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(scoped)}")
    before = _state(us)

    stock = api_client.get(f"/api/v1/inventory/stock/{us}")
    ledger = api_client.get(URL)
    adjust = api_client.post(
        URL, {"sku": us, "warehouse": "US-NJ", "delta": -7, "kind": "damage", "reason": "x"}, format="json"
    )
    after = _state(us)
    own = api_client.post(
        URL, {"sku": code, "warehouse": "KR-A", "delta": 1, "kind": "receipt", "reason": "x"}, format="json"
    )

    assert stock.status_code == 200 and stock.json()["levels"] == []
    assert ledger.status_code == 200
    assert {row["warehouse"] for row in ledger.json()["results"]} == {"KR-A"}
    assert adjust.status_code == 404 and adjust.json()["code"] == "inventory.warehouse_not_found"
    assert after == before
    assert own.status_code == 201 and [lv["warehouse"] for lv in own.json()["levels"]] == ["KR-A"]
