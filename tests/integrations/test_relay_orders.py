"""The shop never waits for the data platform (issue 22 "Show"): orders are placed and paid
while the receiver is down and the relay keeps failing (then its breaker opens); the backlog
and its age grow in the stats and metrics; when the receiver comes back the backlog drains
and both fall back to zero."""

from __future__ import annotations

import time

import pytest

from apps.core.models import OutboxEvent
from apps.integrations import metrics
from apps.integrations.models import DeliveryAttempt
from apps.integrations.selectors import outbox_stats
from apps.integrations.services import relay_breaker_state, relay_drain
from apps.orders.models import Order
from tests.integrations import relay_support
from tests.integrations.relay_support import all_delivered, deliver_until
from tests.orders.factories import paid_order

pytestmark = pytest.mark.django_db
receiver = relay_support.receiver
relay_settings = relay_support.relay_settings


def _gauges() -> tuple[float, float]:
    metrics.gauges_refresh()
    return metrics.BACKLOG.labels(status="pending")._value.get(), metrics.OLDEST_PENDING_SECONDS._value.get()


def test_orders_complete_while_the_receiver_is_down_and_the_backlog_drains_after(relay_settings, receiver):
    relay_settings.DATA_PLATFORM_BREAKER_FAIL_MAX = 2
    relay_settings.DATA_PLATFORM_BREAKER_RESET_SECONDS = 0.3
    receiver.set_faults("503")

    orders = []
    for _ in range(3):
        orders.append(paid_order())
        relay_drain(time_budget=1)  # the relay tries meanwhile and fails

    assert [o.status for o in orders] == [Order.Status.PAID] * 3
    assert relay_breaker_state() == "open"
    assert receiver.stats()["distinct"] == 0
    published = OutboxEvent.objects.count()
    types = set(OutboxEvent.objects.values_list("type", flat=True))
    assert {"order.created", "order.paid", "inventory.reserved", "wallet.debited"} <= types
    backlog, age = _gauges()
    stats = outbox_stats()
    assert backlog == stats["pending"] == published  # nothing delivered, nothing lost
    assert stats["deliveries_last_5m"]["ok"] == 0 and stats["deliveries_last_5m"]["failed"] >= 2
    time.sleep(0.3)
    later_backlog, later_age = _gauges()
    assert later_backlog == backlog and later_age >= age + 0.3  # the lag grows
    assert outbox_stats()["oldest_pending_age_seconds"] >= int(age)
    assert DeliveryAttempt.objects.filter(outcome="circuit_open").exists()

    receiver.set_faults("ok")
    deliver_until(all_delivered)

    assert receiver.stats()["distinct"] == published
    assert relay_breaker_state() == "closed"
    assert _gauges() == (0, 0)
    stats = outbox_stats()
    assert (stats["pending"], stats["delivered"], stats["oldest_pending_age_seconds"]) == (0, published, 0)
    assert stats["last_success_at"] is not None
