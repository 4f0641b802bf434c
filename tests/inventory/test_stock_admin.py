"""Stock levels in the admin: the count edit goes through
``services.stock_level_on_hand_set`` (a ``correction`` movement naming the editor and the
reason it requires; never below what is reserved, never overwriting a reservation), is
refused with a form error instead of a 500, and the admin log keeps the old and new
quantity. Receive, correct and transfer: tests/admin/test_inventory_admin.py."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from apps.inventory import services
from apps.inventory.errors import OnHandBelowReserved, StockChanged
from apps.inventory.models import StockLevel
from tests.catalog.factories import ProductFactory
from tests.catalog.test_admin import _staff
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def level():
    sku = ProductFactory(kr=1000).skus.get()
    return StockLevelFactory(sku=sku, warehouse=WarehouseFactory(code="KR-1"), on_hand=10, reserved=4)


def test_inventory_manager_sets_on_hand_and_the_log_keeps_old_and_new(client, level):
    user = _staff("inventory_manager", "im@example.com")
    client.force_login(user)
    # when
    response = client.post(
        f"/admin/inventory/stocklevel/{level.pk}/change/", {"on_hand": 7, "reason": "Recount"}
    )
    # then
    assert response.status_code == 302
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (7, 4)
    entry = LogEntry.objects.get(object_id=str(level.pk), user=user)
    assert "10 → 7" in entry.get_change_message()


def test_on_hand_below_reserved_is_a_form_error_not_a_500(client, level):
    client.force_login(_staff("inventory_manager", "im@example.com"))
    response = client.post(
        f"/admin/inventory/stocklevel/{level.pk}/change/", {"on_hand": 3, "reason": "Recount"}
    )
    assert response.status_code == 200
    assert "on_hand" in response.context["adminform"].form.errors
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (10, 4)


def test_negative_on_hand_on_a_new_row_is_a_form_error(client):
    sku = ProductFactory(kr=1000).skus.get()
    wh = WarehouseFactory(code="KR-9")
    client.force_login(_staff("ops_admin", "ops@example.com"))
    response = client.post(
        "/admin/inventory/stocklevel/add/", {"sku": sku.pk, "warehouse": wh.pk, "on_hand": -1}
    )
    assert response.status_code == 200
    assert not StockLevel.objects.filter(sku=sku).exists()


def test_service_never_overwrites_a_reservation(level):
    # given a reservation that landed after the admin form was loaded
    StockLevel.objects.filter(pk=level.pk).update(reserved=9)
    # when an on_hand below it is saved, it is refused and nothing changes
    with pytest.raises(OnHandBelowReserved):
        services.stock_level_on_hand_set(level_id=level.pk, on_hand=8)
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (10, 9)
    # and a valid one keeps the concurrent reservation
    services.stock_level_on_hand_set(level_id=level.pk, on_hand=12)
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (12, 9)


def test_a_stale_admin_form_does_not_put_back_stock_sold_meanwhile(client, level):
    # given an inventory manager opened the form at on_hand 10 ...
    client.force_login(_staff("inventory_manager", "im@example.com"))
    # ... and a payment then committed 2 reserved units (on_hand 10 -> 8, reserved 4 -> 2)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=8, reserved=2)
    # when the form is saved with the count it was loaded with (initial on_hand 10)
    response = client.post(
        f"/admin/inventory/stocklevel/{level.pk}/change/",
        {"on_hand": 12, "expected_on_hand": 10, "reason": "Recount"},
    )
    # then it is refused instead of overwriting the sale (nothing changes, no log entry)
    assert response.status_code == 200
    assert "on_hand" in response.context["adminform"].form.errors
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (8, 2)
    assert not LogEntry.objects.filter(object_id=str(level.pk)).exists()


def test_service_refuses_an_on_hand_set_against_a_changed_count(level):
    with pytest.raises(StockChanged):
        services.stock_level_on_hand_set(level_id=level.pk, on_hand=12, expected_on_hand=9)
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (10, 4)
    services.stock_level_on_hand_set(level_id=level.pk, on_hand=12, expected_on_hand=10)
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (12, 4)
