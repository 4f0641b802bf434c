"""The Prometheus series of the key flows move when the flows run (issue 23 item 4):
reservation latency (hold, commit), orders created and paid per market (the completion
rate's two terms), payment outcomes by method, and the outbox lag on ``/metrics``.
Coupon claims by outcome and the relay's counters have their own tests
(tests/coupons/test_claims.py, tests/integrations/test_relay.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import REGISTRY

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.inventory import services as inventory
from apps.inventory.errors import InsufficientStock
from apps.orders import services
from apps.payments.errors import InsufficientBalance, PaymentDeclined, ProviderUnavailable
from tests.orders.conftest import kr, us  # noqa: F401
from tests.orders.factories import MemberFactory, funded_wallet, items_of, key, method_for, place, stocked
from tests.payments.conftest import sandbox  # noqa: F401

pytestmark = pytest.mark.django_db

#: A sandbox fault delay past the sandbox fixture's 1 s read timeout.
PAST_TIMEOUT = 1.5


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """The change of some series between ``__init__`` and ``now()`` (the registry is
    process-wide: other tests move the same counters)."""

    def __init__(self, *series: tuple[str, dict[str, str]]) -> None:
        self.series = series
        self.before = [_value(name, **labels) for name, labels in series]

    def now(self) -> list[float]:
        return [
            _value(name, **labels) - b for (name, labels), b in zip(self.series, self.before, strict=True)
        ]


def _hold(outcome: str) -> tuple[str, dict[str, str]]:
    return ("joopang_inventory_reservation_seconds_count", {"operation": "hold", "outcome": outcome})


def _payments(method: str, outcome: str) -> tuple[str, dict[str, str]]:
    return ("joopang_order_payments_total", {"method": method, "outcome": outcome})


def _pay_method(order, method) -> services.PaymentOutcome:
    return services.order_pay_method(
        order_id=str(order.public_id),
        user=order.user,
        payment_method_id=str(method.public_id),
        idempotency_key=key(),
    )


def test_a_reservation_hold_and_commit_are_timed_by_outcome(kr):  # noqa: F811
    # given: a SKU with 3 units in KR
    _, sku = stocked(kr=1000, stock={"KR": 3})
    delta = Delta(
        _hold("ok"),
        _hold("refused"),
        ("joopang_inventory_reservation_seconds_count", {"operation": "commit", "outcome": "ok"}),
    )
    sum_before = _value("joopang_inventory_reservation_seconds_sum", operation="hold", outcome="ok")
    # when: a hold that fits, a hold that does not, and the commit of the first
    inventory.reservation_create(owner="order:m1", lines=[(sku, 2)], market=kr)
    with pytest.raises(InsufficientStock):
        inventory.reservation_create(owner="order:m2", lines=[(sku, 2)], market=kr)
    inventory.reservation_commit(owner="order:m1")
    # then: one observation each, and the time observed is a real, small duration
    assert delta.now() == [1.0, 1.0, 1.0]
    observed = (
        _value("joopang_inventory_reservation_seconds_sum", operation="hold", outcome="ok") - sum_before
    )
    assert 0 < observed < 5


def test_orders_created_and_paid_per_market_give_the_completion_rate(kr, us):  # noqa: F811
    # given: three orders in KR, one in US
    delta = Delta(
        ("joopang_orders_created_total", {"market": "KR"}),
        ("joopang_orders_created_total", {"market": "US"}),
        ("joopang_orders_paid_total", {"market": "KR", "method": "wallet"}),
        ("joopang_orders_paid_total", {"market": "US", "method": "wallet"}),
        _payments("wallet", "paid"),
    )
    member = MemberFactory()
    first_key, first_items = key(), items_of((stocked()[1], 1))
    kr_orders = [
        place(member, kr, first_items, idempotency_key=first_key),
        place(member, kr),
        place(member, kr),
    ]
    place(member, us)
    # a replayed key places nothing new and counts nothing
    assert place(member, kr, first_items, idempotency_key=first_key).pk == kr_orders[0].pk
    # when: two of the KR orders are paid by wallet
    funded_wallet(member, kr, sum(order.total for order in kr_orders[:2]))
    for order in kr_orders[:2]:
        services.order_pay_wallet(order_id=str(order.public_id), user=member, idempotency_key=key())
    # then: created 3 / 1, paid 2 / 0: KR completes 2 of 3
    assert delta.now() == [3.0, 1.0, 2.0, 0.0, 2.0]


def test_a_wallet_short_of_balance_counts_a_declined_payment_and_no_paid_order(kr):  # noqa: F811
    member = MemberFactory()
    order = place(member, kr)
    funded_wallet(member, kr, order.total - 1)
    delta = Delta(
        _payments("wallet", "declined"),
        _payments("wallet", "paid"),
        ("joopang_orders_paid_total", {"market": "KR", "method": "wallet"}),
    )
    with pytest.raises(InsufficientBalance):
        services.order_pay_wallet(order_id=str(order.public_id), user=member, idempotency_key=key())
    assert delta.now() == [1.0, 0.0, 0.0]


def test_method_payments_count_declined_unavailable_pending_then_paid(sandbox, kr, settings):  # noqa: F811
    member = MemberFactory()
    delta = Delta(
        _payments("payment_method", "declined"),
        _payments("payment_method", "unavailable"),
        _payments("payment_method", "pending"),
        _payments("payment_method", "paid"),
        ("joopang_orders_paid_total", {"market": "KR", "method": "payment_method"}),
    )
    # a card the network declines
    with pytest.raises(PaymentDeclined):
        _pay_method(place(member, kr), method_for(member, kr, last4="0051"))
    # the provider down
    sandbox.set_fault("fail", operations=["charge"])
    with pytest.raises(ProviderUnavailable):
        _pay_method(place(member, kr), method_for(member, kr))
    # the provider slow: the payment is left pending, then the settle tasks capture it
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    outcome = _pay_method(place(member, kr), method_for(member, kr))
    assert outcome.payment.status == "pending"
    assert delta.now() == [1.0, 1.0, 1.0, 0.0, 0.0]
    sandbox.set_fault("ok")
    later = clock.now() + dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS + 1)
    from apps.payments import services as payments

    assert payments.charges_settle_pending(now=later)["succeeded"] == 1
    assert services.order_payments_settle() == {"applied": 1, "errors": 0}
    assert delta.now() == [1.0, 1.0, 1.0, 1.0, 1.0]


def test_metrics_endpoint_serves_the_new_series_and_the_outbox_lag(client, kr):  # noqa: F811
    # given: an order placed and paid two minutes ago whose events are not delivered yet
    member = MemberFactory()
    order = place(member, kr)
    funded_wallet(member, kr, order.total)
    services.order_pay_wallet(order_id=str(order.public_id), user=member, idempotency_key=key())
    OutboxEvent.objects.update(occurred_at=clock.now() - dt.timedelta(seconds=120))
    # when: Prometheus scrapes the web process (the test client comes from 127.0.0.1)
    body = client.get("/metrics").content.decode()
    # then
    lines = body.splitlines()
    lag = next(line for line in lines if line.startswith("joopang_outbox_oldest_pending_age_seconds "))
    assert float(lag.split()[1]) >= 120
    for name in (
        'joopang_orders_created_total{market="KR"}',
        "joopang_inventory_reservation_seconds_bucket{",
        'joopang_order_payments_total{method="wallet",outcome="paid"}',
        'joopang_orders_paid_total{market="KR",method="wallet"}',
    ):
        assert any(line.startswith(name) for line in lines), name
