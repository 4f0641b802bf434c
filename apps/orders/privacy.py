"""Orders' part of a member's data request and account deletion (accounts'
``member_export`` / ``user_delete`` find this module by name).

Deletion keeps the orders (tax and consumer-protection records) but erases where they were
shipped: the encrypted shipping address is removed from every order of the member.
"""

from __future__ import annotations

from typing import Any

from apps.accounts.models import User
from apps.orders.models import Order


def export(user: User) -> dict[str, Any]:
    orders = Order.objects.filter(user=user).prefetch_related("lines", "status_history").order_by("pk")
    return {
        "orders": [
            {
                "number": order.number,
                "status": order.status,
                "market": order.market_id,
                "currency": order.currency,
                "total": order.total,
                "refunded": order.refunded_amount,
                "placed_at": order.created_at.isoformat(),
                "shipping_address": dict(order.shipping_address) if order.shipping_address else None,
                "lines": [
                    {
                        "sku": line.sku_code,
                        "name": line.name_en,
                        "quantity": line.quantity,
                        "total": line.line_total,
                    }
                    for line in order.lines.all()
                ],
                "history": [
                    {"from": change.from_status, "to": change.to_status, "at": change.created_at.isoformat()}
                    for change in order.status_history.all()
                ],
            }
            for order in orders
        ]
    }


def erase(user: User) -> None:
    Order.objects.filter(user=user).update(shipping_address=None)
