"""A member's data request shows their orders; deleting the account keeps the orders (tax
records) but erases where they were shipped (apps/orders/privacy.py)."""

from __future__ import annotations

from apps.accounts.selectors import member_export
from apps.accounts.services import user_delete
from apps.orders.models import Order
from tests.orders.factories import paid_order


def test_the_export_lists_orders_with_lines_address_and_history(db, kr):
    order = paid_order(market=kr)

    data = member_export(order.user)["orders"]

    assert [o["number"] for o in data["orders"]] == [order.number]
    exported = data["orders"][0]
    assert exported["status"] == "paid" and exported["total"] == order.total
    assert exported["shipping_address"]["postal_code"] == order.shipping_address["postal_code"]
    assert [h["to"] for h in exported["history"]] == ["pending", "paid"]
    assert sum(line["total"] for line in exported["lines"]) == order.total


def test_deleting_the_account_erases_shipping_addresses_and_keeps_the_orders(db, kr):
    order = paid_order(market=kr)

    user_delete(user=order.user)

    order = Order.objects.get(pk=order.pk)
    assert order.shipping_address is None
    assert order.status == "paid" and order.total > 0
