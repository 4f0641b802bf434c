"""Stock in the back office (issue 17, "Back office"), through Django's test client:
receive, correct and transfer call the services and write the ledger; refusals are the
services' localized errors on the form with nothing changed; the ledger and reservations
are read-only for everyone; the ledger exports to CSV (tests/admin/test_exports.py: XLSX
and the other lists); the low-stock view; who may see
and act."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io

import pytest
from django.db.models import Sum
from django.utils import translation

from apps.inventory import services
from apps.inventory.errors import NegativeStock, SkuNotFound, StockChanged
from apps.inventory.models import Reservation, StockLevel, StockMovement
from apps.markets.selectors import market_get
from tests.accounts.factories import UserFactory, staff
from tests.inventory.factories import stocked_sku

pytestmark = pytest.mark.django_db

LIST = "/admin/inventory/stocklevel/"
LEDGER = "/admin/inventory/stockmovement/"
RESERVATIONS = "/admin/inventory/reservation/"


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.content.decode())


def _level(code: str, warehouse: str) -> StockLevel:
    return StockLevel.objects.select_related("warehouse", "sku").get(
        sku__code=code, warehouse__code=warehouse
    )


def _ledger_holds(level: StockLevel) -> None:
    level.refresh_from_db()
    moved = StockMovement.objects.filter(stock_level=level).aggregate(total=Sum("delta"))["total"] or 0
    assert level.on_hand == moved


def _snapshot() -> list[tuple[int, int, int, int]]:
    return [
        (*row, StockMovement.objects.count())
        for row in StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "reserved")
    ]


def _ko(error: Exception) -> str:
    with translation.override("ko"):
        return str(error.detail)  # type: ignore[attr-defined]


@pytest.fixture
def sku():
    """A SKU with 10 units in KR-A (reserved 3 of them) and 2 in KR-B."""
    code = stocked_sku({"KR-A": 10, "KR-B": 2}, code="INV-ADM")
    services.reservation_create(owner="cart:held", lines=[(code, 3)], market=market_get("KR"))
    return code


@pytest.fixture
def manager(client):
    user = staff("inventory_manager")
    client.force_login(user)
    return user


# --- Receive -----------------------------------------------------------------------
def test_receive_on_a_row_adds_units_through_the_service_and_the_ledger(client, manager, sku):
    level = _level(sku, "KR-A")

    page = client.get(f"{LIST}{level.pk}/receive/")
    response = client.post(
        f"{LIST}{level.pk}/receive/",
        {
            "sku_code": sku,
            "warehouse": level.warehouse_id,
            "kind": "receipt",
            "quantity": 5,
            "reason": "Delivery from the supplier",
            "reference": "DN-1001",
        },
    )

    assert page.status_code == 200
    assert 'name="reason"' in _text(page) and "<script>" not in _text(page)
    assert response.status_code == 302
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (15, 3)
    movement = StockMovement.objects.filter(stock_level=level).latest("id")
    assert (movement.kind, movement.delta, movement.on_hand_before, movement.on_hand_after) == (
        "receipt",
        5,
        10,
        15,
    )
    assert (movement.actor, movement.reason, movement.reference) == (
        manager,
        "Delivery from the supplier",
        "DN-1001",
    )
    _ledger_holds(level)


def test_receive_from_the_list_opens_the_row_of_a_warehouse_without_one(client, manager, sku):
    other = stocked_sku({"KR-A": 1})
    target = _level(sku, "KR-B").warehouse

    response = client.post(
        f"{LIST}receive/",
        {
            "sku_code": other,
            "warehouse": target.pk,
            "kind": "return",
            "quantity": 2,
            "reason": "Customer return",
        },
    )

    assert response.status_code == 302
    level = _level(other, "KR-B")
    assert level.on_hand == 2
    assert StockMovement.objects.get(stock_level=level).kind == "return"
    _ledger_holds(level)


def test_receive_refusals_are_form_errors_and_change_nothing(client, manager, sku):
    level = _level(sku, "KR-A")
    before = _snapshot()

    no_reason = client.post(
        f"{LIST}{level.pk}/receive/",
        {"sku_code": sku, "warehouse": level.warehouse_id, "kind": "receipt", "quantity": 5, "reason": "  "},
    )
    unknown = client.post(
        f"{LIST}receive/",
        {
            "sku_code": "NOPE-1",
            "warehouse": level.warehouse_id,
            "kind": "receipt",
            "quantity": 5,
            "reason": "x",
        },
    )
    zero = client.post(
        f"{LIST}receive/",
        {"sku_code": sku, "warehouse": level.warehouse_id, "kind": "receipt", "quantity": 0, "reason": "x"},
    )

    assert no_reason.status_code == 200 and "reason" in no_reason.context["form"].errors
    assert unknown.status_code == 200
    assert _ko(SkuNotFound(sku="NOPE-1")) in _text(unknown)
    assert zero.status_code == 200 and "quantity" in zero.context["form"].errors
    assert _snapshot() == before


# --- Correct -----------------------------------------------------------------------
def test_correct_moves_by_the_counted_difference_compare_and_set(client, manager, sku):
    level = _level(sku, "KR-A")

    page = client.get(f"{LIST}{level.pk}/correct/")
    response = client.post(
        f"{LIST}{level.pk}/correct/",
        {"kind": "correction", "delta": -4, "reason": "Cycle count", "expected_on_hand": 10},
    )

    assert page.status_code == 200
    assert 'name="expected_on_hand" value="10"' in _text(page)
    assert response.status_code == 302
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (6, 3)
    movement = StockMovement.objects.filter(stock_level=level).latest("id")
    assert (movement.kind, movement.delta, movement.actor, movement.reason) == (
        "correction",
        -4,
        manager,
        "Cycle count",
    )
    _ledger_holds(level)


def test_a_correction_below_what_is_reserved_shows_the_localized_error_and_changes_nothing(
    client, manager, sku
):
    level = _level(sku, "KR-A")  # 10 on hand, 3 reserved
    before = _snapshot()

    response = client.post(
        f"{LIST}{level.pk}/correct/",
        {"kind": "damage", "delta": -8, "reason": "Water damage", "expected_on_hand": 10},
    )

    assert response.status_code == 200
    assert _ko(NegativeStock(delta=-8, on_hand=10, reserved=3)) in _text(response)
    assert response.context["form"].non_field_errors()
    assert _snapshot() == before


def test_a_stale_correction_is_refused_instead_of_overwriting_a_change_made_meanwhile(client, manager, sku):
    level = _level(sku, "KR-A")
    # the manager opened the page at 10 on hand; a delivery of 5 was booked meanwhile
    client.get(f"{LIST}{level.pk}/correct/")
    services.stock_adjust(
        sku_code=sku, warehouse_code="KR-A", delta=5, kind="receipt", reason="Delivery", actor=None
    )
    before = _snapshot()

    response = client.post(
        f"{LIST}{level.pk}/correct/",
        {"kind": "correction", "delta": -2, "reason": "Count", "expected_on_hand": 10},
    )

    assert response.status_code == 200
    assert _ko(StockChanged(on_hand=15, expected=10)) in _text(response)
    assert _snapshot() == before
    level.refresh_from_db()
    assert level.on_hand == 15


def test_damage_must_remove_and_a_zero_change_is_refused(client, manager, sku):
    level = _level(sku, "KR-A")
    before = _snapshot()

    damage_up = client.post(
        f"{LIST}{level.pk}/correct/",
        {"kind": "damage", "delta": 2, "reason": "Broken", "expected_on_hand": 10},
    )
    zero = client.post(
        f"{LIST}{level.pk}/correct/",
        {"kind": "correction", "delta": 0, "reason": "Count", "expected_on_hand": 10},
    )

    assert damage_up.status_code == 200 and damage_up.context["form"].non_field_errors()
    assert zero.status_code == 200 and "delta" in zero.context["form"].errors
    assert _snapshot() == before


# --- Transfer ----------------------------------------------------------------------
def test_transfer_moves_available_units_in_two_ledger_legs(client, manager, sku):
    source, target = _level(sku, "KR-A"), _level(sku, "KR-B")

    page = client.get(f"{LIST}transfer/?level={source.pk}")
    response = client.post(
        f"{LIST}{source.pk}/transfer/",
        {
            "sku_code": sku,
            "from_warehouse": source.warehouse_id,
            "to_warehouse": target.warehouse_id,
            "quantity": 4,
            "reason": "Rebalance before the sale",
        },
    )

    assert page.status_code == 200
    assert response.status_code == 302
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.on_hand, source.reserved, target.on_hand) == (6, 3, 6)
    legs = StockMovement.objects.filter(kind__in=["transfer_out", "transfer_in"]).order_by("id")
    assert [(m.warehouse.code, m.delta, m.actor) for m in legs] == [
        ("KR-A", -4, manager),
        ("KR-B", 4, manager),
    ]
    assert {m.reference for m in legs} == {"transfer:KR-A->KR-B"}
    _ledger_holds(source)
    _ledger_holds(target)


def test_a_transfer_of_reserved_units_or_to_the_same_warehouse_is_refused(client, manager, sku):
    source = _level(sku, "KR-A")  # 7 available
    target = _level(sku, "KR-B")
    before = _snapshot()

    too_many = client.post(
        f"{LIST}transfer/",
        {
            "sku_code": sku,
            "from_warehouse": source.warehouse_id,
            "to_warehouse": target.warehouse_id,
            "quantity": 8,
            "reason": "Rebalance",
        },
    )
    same = client.post(
        f"{LIST}transfer/",
        {
            "sku_code": sku,
            "from_warehouse": source.warehouse_id,
            "to_warehouse": source.warehouse_id,
            "quantity": 1,
            "reason": "Rebalance",
        },
    )

    assert too_many.status_code == 200
    assert _ko(NegativeStock(delta=-8, on_hand=10, reserved=3)) in _text(too_many)
    assert same.status_code == 200 and "to_warehouse" in same.context["form"].errors
    assert _snapshot() == before


def test_the_count_edit_needs_a_reason_and_names_the_editor_in_the_ledger(client, manager, sku):
    level = _level(sku, "KR-A")
    url = f"{LIST}{level.pk}/change/"

    refused = client.post(url, {"on_hand": 12, "expected_on_hand": 10})
    saved = client.post(url, {"on_hand": 12, "expected_on_hand": 10, "reason": "Recount"})

    assert refused.status_code == 200 and "reason" in refused.context["adminform"].form.errors
    assert saved.status_code == 302
    movement = StockMovement.objects.filter(stock_level=level).latest("id")
    assert (movement.kind, movement.delta, movement.actor, movement.reason) == (
        "correction",
        2,
        manager,
        "Recount",
    )
    _ledger_holds(level)


# --- The ledger: read-only, filterable, exportable ---------------------------------
@pytest.mark.parametrize("who", ["inventory_manager", "ops_admin", "superuser"])
def test_nobody_adds_changes_or_deletes_a_ledger_row(client, sku, who):
    user = (
        UserFactory(email="root@staff.test", is_staff=True, is_superuser=True)
        if who == "superuser"
        else staff(who)
    )
    client.force_login(user)
    movement = StockMovement.objects.get(sku__code=sku, warehouse__code="KR-A")
    count = StockMovement.objects.count()

    listing = client.get(LEDGER)
    add = client.get(f"{LEDGER}add/")
    add_post = client.post(f"{LEDGER}add/", {"delta": 5, "reason": "x"})
    change = client.post(f"{LEDGER}{movement.pk}/change/", {"delta": 99, "reason": "edited"})
    delete = client.post(f"{LEDGER}{movement.pk}/delete/", {"post": "yes"})
    bulk = client.post(
        LEDGER, {"action": "delete_selected", "_selected_action": [movement.pk], "post": "yes"}
    )

    assert listing.status_code == 200
    assert f"{LEDGER}add/" not in _text(listing)
    assert (add.status_code, add_post.status_code, delete.status_code) == (403, 403, 403)
    assert change.status_code == 403
    assert bulk.status_code in (200, 302)  # no such action: nothing selected, nothing run
    assert StockMovement.objects.count() == count
    movement.refresh_from_db()
    assert (movement.delta, movement.reason) == (10, "Opening count")


def test_the_ledger_lists_who_moved_what_where_and_why_in_the_market_zone(client, manager, sku):
    services.stock_adjust(
        sku_code=sku,
        warehouse_code="KR-B",
        delta=-1,
        kind="damage",
        reason="Dropped pallet",
        reference="TKT-77",
        actor=manager,
    )

    html_ = _text(client.get(LEDGER))

    row = html_.split("Dropped pallet", 1)[0].rsplit("<tr", 1)[1]
    for text in (sku, "KR-B", "파손", "-1", "2", "1", manager.email):
        assert text in row, text
    assert "TKT-77" in html_
    assert "KST" in row  # times in the market's zone, named
    product = StockLevel.objects.get(sku__code=sku, warehouse__code="KR-B").sku.product
    assert product.name_ko in row


def test_the_ledger_filters_by_kind_warehouse_day_actor_and_searches_by_sku(client, manager, sku):
    other = stocked_sku({"KR-A": 4}, code="INV-OTHER")
    services.stock_adjust(
        sku_code=sku, warehouse_code="KR-A", delta=2, kind="receipt", reason="By hand", actor=manager
    )

    def ids(query: str) -> set[int]:
        response = client.get(f"{LEDGER}?{query}")
        assert response.status_code == 200, query
        return {obj.pk for obj in response.context["cl"].result_list}

    mine = StockMovement.objects.get(actor=manager)
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=9))).date()
    assert ids("kind__exact=receipt") == set(
        StockMovement.objects.filter(kind="receipt").values_list("pk", flat=True)
    )
    assert ids(f"warehouse__id__exact={_level(sku, 'KR-B').warehouse_id}") == set(
        StockMovement.objects.filter(warehouse__code="KR-B").values_list("pk", flat=True)
    )
    assert ids(f"actor={manager.pk}") == {mine.pk}
    assert mine.pk not in ids("actor=system")
    assert ids(f"q={other}") == set(
        StockMovement.objects.filter(sku__code=other).values_list("pk", flat=True)
    )
    everything = set(StockMovement.objects.values_list("pk", flat=True))
    day = today.isoformat()
    assert ids(f"created_at_from={day}&created_at_to={day}") == everything
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert ids(f"created_at_from={tomorrow}") == set()


def _export_csv(client, query: str = "") -> list[list[str]]:  # type: ignore[no-untyped-def]
    """The ledger's export form posted with CSV (format 0), the list's query kept."""
    response = client.post(f"{LEDGER}export/{query}", {"format": "0", "resource": "0"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")  # the BOM: spreadsheets read UTF-8 (Korean)
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


def test_the_ledger_exports_the_filtered_rows_to_csv(client, manager, sku):
    services.stock_adjust(
        sku_code=sku,
        warehouse_code="KR-A",
        delta=-1,
        kind="damage",
        reason='=HYPERLINK("http://evil")',
        reference="TKT-1",
        actor=manager,
    )
    damage = StockMovement.objects.get(kind="damage")

    listing = _text(client.get(f"{LEDGER}?kind__exact=damage"))
    form = client.get(f"{LEDGER}export/?kind__exact=damage")
    rows = _export_csv(client, "?kind__exact=damage")
    all_rows = _export_csv(client)

    assert f"{LEDGER}export/?kind__exact=damage" in listing  # the button keeps the filters
    assert form.status_code == 200  # the form that picks CSV or XLSX
    assert rows[0][:6] == ["시각 (UTC)", "상품", "SKU 코드", "창고", "종류", "변경"]
    assert len(rows) == 2
    row = rows[1]
    assert row[2:9] == [sku, "KR-A", "파손", "-1", "10", "9", manager.email]
    assert (
        row[1] == StockLevel.objects.filter(sku__code=sku).first().sku.product.name_ko
    )  # Korean, as the page
    assert row[9] == '\'=HYPERLINK("http://evil")'  # a spreadsheet shows it, never runs it
    assert row[10] == "TKT-1"
    assert row[0] == damage.created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # UTC
    assert row[11] == str(damage.pk)
    assert len(all_rows) == 1 + StockMovement.objects.count()


def test_reasons_the_services_write_are_shown_in_the_staff_language_typed_ones_as_typed(client, manager, sku):
    """The opening count is stored as "Opening count" (data); a Korean manager reads it in
    Korean on the list and in the export, while a reason a person typed stays as typed."""
    services.stock_adjust(
        sku_code=sku, warehouse_code="KR-B", delta=1, kind="receipt", reason="Late pallet", actor=manager
    )

    listing = _text(client.get(f"{LEDGER}?q={sku}"))
    reasons = {row[9] for row in _export_csv(client, f"?q={sku}")}

    assert StockMovement.objects.filter(sku__code=sku, reason="Opening count").count() == 2
    assert "초기 재고 입력" in listing and "Opening count" not in listing
    assert "Late pallet" in listing
    assert {"초기 재고 입력", "Late pallet"} <= reasons and "Opening count" not in reasons


# --- Low stock ---------------------------------------------------------------------
def test_low_stock_uses_each_rows_threshold_else_the_setting(client, manager, settings):
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 5
    plenty = stocked_sku({"KR-A": 50})
    low_default = stocked_sku({"KR-A": 4})
    out = stocked_sku({"KR-A": 0})
    own = stocked_sku({"KR-A": 30})
    StockLevel.objects.filter(sku__code=own).update(low_stock_threshold=40)

    def codes(query: str) -> set[str]:
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200
        return {lv.sku.code for lv in response.context["cl"].result_list}

    assert codes("availability=low") == {low_default, out, own}
    assert codes("availability=out") == {out}
    assert codes("availability=in") == {plenty}
    html_ = _text(client.get(f"{LIST}?availability=low"))
    assert "재고 부족" in html_


# --- Who sees and acts -------------------------------------------------------------
def _urls(sku: str) -> dict[str, str]:
    level = _level(sku, "KR-A")
    return {
        "ledger": LEDGER,
        "export": f"{LEDGER}export/",
        "reservations": RESERVATIONS,
        "receive": f"{LIST}receive/",
        "row receive": f"{LIST}{level.pk}/receive/",
        "correct": f"{LIST}{level.pk}/correct/",
        "transfer": f"{LIST}transfer/",
        "low stock": f"{LIST}?availability=low",
    }


@pytest.mark.parametrize("role", ["inventory_manager", "ops_admin"])
def test_inventory_roles_see_and_act(client, sku, role):
    client.force_login(staff(role))
    level = _level(sku, "KR-A")

    for name, url in _urls(sku).items():
        assert client.get(url).status_code == 200, name
    response = client.post(
        f"{LIST}{level.pk}/correct/",
        {"kind": "correction", "delta": 1, "reason": "Found one", "expected_on_hand": 10},
    )
    assert response.status_code == 302
    nav = _text(client.get("/admin/")).split('id="nav-sidebar-apps"', 1)[1].split("</nav>", 1)[0]
    for title in ("재고 부족", "재고 원장", "예약"):
        assert title in nav, title
    for link in (LEDGER, RESERVATIONS, f"{LIST}?availability=low"):
        assert f'href="{link}"' in nav, link


@pytest.mark.parametrize("role", ["cs_agent", "marketing_manager"])
def test_other_roles_get_403_and_change_nothing(client, sku, role):
    client.force_login(staff(role))
    level = _level(sku, "KR-A")
    before = _snapshot()

    for name, url in _urls(sku).items():
        assert client.get(url).status_code == 403, name
    posted = client.post(
        f"{LIST}{level.pk}/correct/",
        {"kind": "correction", "delta": 5, "reason": "x", "expected_on_hand": 10},
    )
    transfer = client.post(
        f"{LIST}transfer/",
        {
            "sku_code": sku,
            "from_warehouse": level.warehouse_id,
            "to_warehouse": _level(sku, "KR-B").warehouse_id,
            "quantity": 1,
            "reason": "x",
        },
    )
    assert (posted.status_code, transfer.status_code) == (403, 403)
    assert _snapshot() == before
    nav = _text(client.get("/admin/")).split('id="nav-sidebar-apps"', 1)[1].split("</nav>", 1)[0]
    assert LEDGER not in nav and RESERVATIONS not in nav


# --- Reservations ------------------------------------------------------------------
def test_reservations_are_listed_read_only_with_expiry_in_the_market_zone(client, manager, sku):
    reservation = Reservation.objects.get(owner="cart:held")

    listing = client.get(RESERVATIONS)
    html_ = _text(listing)

    assert listing.status_code == 200
    for text in ("cart:held", sku, "KR-A", "활성", "KST"):
        assert text in html_, text
    assert f"{RESERVATIONS}add/" not in html_
    assert client.get(f"{RESERVATIONS}add/").status_code == 403
    assert client.post(f"{RESERVATIONS}{reservation.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{RESERVATIONS}{reservation.pk}/change/", {"quantity": 1}).status_code == 403
    reservation.refresh_from_db()
    assert (reservation.quantity, reservation.status) == (3, "active")


def test_a_manager_scoped_to_one_market_sees_and_moves_only_its_stock(client, sku):
    us = stocked_sku({"US-NJ": 6}, market="US")
    client.force_login(staff("inventory_manager", market="KR"))
    us_level = _level(us, "US-NJ")
    before = _snapshot()

    listing = client.get(LIST)
    ledger = client.get(LEDGER)
    correct = client.get(f"{LIST}{us_level.pk}/correct/")
    receive = client.post(
        f"{LIST}receive/",
        {"sku_code": us, "warehouse": us_level.warehouse_id, "kind": "receipt", "quantity": 1, "reason": "x"},
    )

    assert {lv.sku.code for lv in listing.context["cl"].result_list} == {sku}
    assert {mv.warehouse.market_id for mv in ledger.context["cl"].result_list} == {"KR"}
    assert correct.status_code == 404
    assert receive.status_code == 200 and "warehouse" in receive.context["form"].errors
    assert _snapshot() == before
