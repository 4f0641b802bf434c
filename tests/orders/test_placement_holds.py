"""An order's hold: its expiry is the order's pay-by time (set at the INSERT), and only the
order's own countdown is queued (it releases the hold; the inventory sweep backstops)."""

from __future__ import annotations

import pytest

from apps.inventory.models import Reservation
from apps.inventory.tasks import reservation_expire_task
from apps.markets.models import Market
from apps.orders import services
from apps.orders.tasks import order_expire_task
from tests.carts.factories import stocked
from tests.payments.factories import MemberFactory

pytestmark = pytest.mark.django_db

ADDRESS = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}


def test_an_order_holds_until_its_pay_by_time_and_queues_no_countdown(
    monkeypatch, django_capture_on_commit_callbacks
):
    # given: two SKUs, and the brokers of both countdowns recorded
    (_, first), (_, second) = stocked(kr=1000), stocked(kr=2000)
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(order_expire_task, "apply_async", lambda **kw: sent.append(("order", kw)))
    monkeypatch.setattr(reservation_expire_task, "apply_async", lambda **kw: sent.append(("hold", kw)))

    # when: an order of both is placed and commits
    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_place(
            user=MemberFactory(),
            market=Market.objects.get(code="KR"),
            idempotency_key="k1",
            items=[{"sku": first, "quantity": 1}, {"sku": second, "quantity": 2}],
            shipping_address=ADDRESS,
        ).order

    # then: both lines held until the order's pay-by time, 15 minutes (KR) after placing
    holds = list(Reservation.objects.filter(owner=order.owner).values_list("quantity", "expires_at"))
    assert sorted(holds) == [(1, order.expires_at), (2, order.expires_at)]
    assert (order.expires_at - order.created_at).total_seconds() == 15 * 60
    # ... and no countdown task: the orders' expiry sweep (beat, every few seconds) cancels it
    assert sent == []
