"""The order state machine through the services (issue 20 "Show" 2): every (from, to) pair
of ``apps.orders.state`` taken by ops through ``order_transition`` (legal: moved, a history
row, an event; illegal: 409 and nothing changed), what CS may do, member cancellation
(pending: released; paid: returned to stock and refunded; fulfilled: refused), the market's
cancellation policy, returns inside and outside the window, and expiry."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from apps.core import clock
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation, StockMovement
from apps.inventory.selectors import stock_drift
from apps.markets.models import Market
from apps.orders import services, state
from apps.orders.errors import (
    InvalidTransition,
    NotCancellable,
    OrderNotFound,
    RefundInvalid,
    ReturnWindowClosed,
    TransitionNotAllowed,
)
from apps.orders.models import Order, OrderPayment, OrderRefund, OrderStatusChange
from apps.payments.models import Wallet, WalletEntry
from tests.orders.factories import (
    MemberFactory,
    fulfilled_order,
    funded_wallet,
    items_of,
    key,
    ledger_sum,
    movements_sum,
    paid_order,
    place,
    sku_stock,
    staff,
    stocked,
)

pytestmark = pytest.mark.django_db

STATUSES = list(Order.Status.values)
PAIRS = list(itertools.product(STATUSES, STATUSES))


def _order_in(status: str, kr: Market) -> tuple[Order, str]:
    """An order of 2 units (12,900 won each, so 25,800 shipping free) in ``status``."""
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    items = items_of((sku, 2))
    if status == "pending":
        return place(user, kr, items), sku
    if status == "cancelled":
        order = place(user, kr, items)
        services.order_cancel(order_id=str(order.public_id), user=user, reason="changed my mind")
    elif status == "paid":
        order = paid_order(user, kr, items)
    else:
        order = fulfilled_order(user, kr, items=items)
        if status == "refunded":
            services.order_refund(
                order_id=str(order.public_id), user=user, reason="broken", idempotency_key=key()
            )
    order.refresh_from_db()
    assert order.status == status
    return order, sku


def _snapshot(order: Order) -> dict:
    order.refresh_from_db()
    return {
        "status": order.status,
        "refunded": order.refunded_amount,
        "history": OrderStatusChange.objects.filter(order=order).count(),
        "events": OutboxEvent.objects.count(),
        "payments": list(OrderPayment.objects.filter(order=order).values_list("status", flat=True)),
        "refunds": OrderRefund.objects.filter(order=order).count(),
        "ledger": WalletEntry.objects.count(),
        "movements": StockMovement.objects.count(),
    }


def test_the_table_has_the_five_legal_moves():
    legal = {(f, t) for f, t in PAIRS if state.is_legal(f, t)}
    assert legal == {
        ("pending", "paid"),
        ("pending", "cancelled"),
        ("paid", "fulfilled"),
        ("paid", "cancelled"),
        ("fulfilled", "refunded"),
    }
    assert legal - {("pending", "paid")} == state.CS_TRANSITIONS


@pytest.mark.parametrize(("frm", "to"), PAIRS, ids=[f"{f}->{t}" for f, t in PAIRS])
def test_every_pair_through_order_transition_as_ops(kr, frm, to):
    # given: an order in ``frm`` and an ops admin
    order, _ = _order_in(frm, kr)
    ops = staff("ops_admin")
    before = _snapshot(order)
    if state.is_legal(frm, to):
        # when
        moved = services.order_transition(
            order_id=str(order.public_id), to_status=to, actor=ops, reason="ticket 42", markets=["KR"]
        )
        # then: moved, one history row by staff with the reason, one event
        order.refresh_from_db()
        assert moved.status == order.status == to
        last = OrderStatusChange.objects.filter(order=order).order_by("-pk").first()
        assert (last.from_status, last.to_status, last.actor_id, last.actor_kind, last.reason) == (
            frm,
            to,
            ops.pk,
            "staff",
            "ticket 42",
        )
        assert OrderStatusChange.objects.filter(order=order).count() == before["history"] + 1
        event = OutboxEvent.objects.filter(type=f"order.{to}", aggregate_id=str(order.public_id)).get()
        assert (event.payload["from_status"], event.payload["status"], event.payload["reason"]) == (
            frm,
            to,
            "ticket 42",
        )
    else:
        # when
        with pytest.raises(InvalidTransition) as caught:
            services.order_transition(
                order_id=str(order.public_id), to_status=to, actor=ops, reason="ticket 42", markets=["KR"]
            )
        # then: 409, nothing changed
        assert (caught.value.code, caught.value.http_status) == ("order.invalid_transition", 409)
        assert _snapshot(order) == before


def test_an_unknown_status_is_an_invalid_transition(kr):
    order, _ = _order_in("paid", kr)
    before = _snapshot(order)
    with pytest.raises(InvalidTransition):
        services.order_transition(
            order_id=str(order.public_id),
            to_status="shipped",
            actor=staff("ops_admin"),
            reason="x",
            markets=["KR"],
        )
    assert _snapshot(order) == before


def test_a_manual_payment_by_ops_commits_the_stock_and_records_the_payment(kr):
    # given: a pending order
    order, sku = _order_in("pending", kr)
    # when
    services.order_transition(
        order_id=str(order.public_id),
        to_status="paid",
        actor=staff("ops_admin"),
        reason="bank transfer",
        markets=["KR"],
    )
    # then
    payment = OrderPayment.objects.get(order=order)
    assert (payment.method, payment.status, payment.amount) == ("manual", "captured", order.total)
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (48, 0)
    assert stock_drift() == []


@pytest.mark.parametrize(("frm", "to"), sorted({(f, t) for f, t in PAIRS if state.is_legal(f, t)}))
def test_cs_takes_only_the_moves_the_policy_gives_it(kr, frm, to):
    # given: a CS agent and an order in ``frm``
    order, _ = _order_in(frm, kr)
    cs = staff("cs_agent")
    before = _snapshot(order)
    if (frm, to) in state.CS_TRANSITIONS:
        # when / then
        services.order_transition(
            order_id=str(order.public_id), to_status=to, actor=cs, reason="call", markets=["KR"]
        )
        order.refresh_from_db()
        assert order.status == to
    else:
        with pytest.raises(TransitionNotAllowed) as caught:
            services.order_transition(
                order_id=str(order.public_id), to_status=to, actor=cs, reason="call", markets=["KR"]
            )
        assert (caught.value.code, caught.value.http_status) == ("order.transition_not_allowed", 403)
        assert _snapshot(order) == before


def test_staff_of_another_market_do_not_find_the_order(kr):
    order, _ = _order_in("paid", kr)
    before = _snapshot(order)
    with pytest.raises(OrderNotFound):
        services.order_transition(
            order_id=str(order.public_id),
            to_status="fulfilled",
            actor=staff("ops_admin"),
            reason="x",
            markets=["US"],
        )
    assert _snapshot(order) == before


# --- Member cancellation --------------------------------------------------------------------------


def test_a_member_cancels_a_pending_order_and_the_stock_is_released(kr):
    # given
    order, sku = _order_in("pending", kr)
    assert sku_stock(sku).reserved == 2
    # when
    services.order_cancel(order_id=str(order.public_id), user=order.user, reason="changed my mind")
    # then
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("cancelled", 0) and order.cancelled_at is not None
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (50, 0)
    assert set(Reservation.objects.filter(owner=order.owner).values_list("status", flat=True)) == {"released"}
    last = order.status_history.order_by("-pk").first()
    assert (last.from_status, last.to_status, last.actor_kind, last.reason) == (
        "pending",
        "cancelled",
        "member",
        "changed my mind",
    )
    assert OutboxEvent.objects.filter(type="order.cancelled").count() == 1
    assert OrderRefund.objects.count() == 0


def test_a_member_cancels_a_paid_order_the_stock_returns_and_the_wallet_is_refunded(kr):
    # given: a paid order of 2 units (25,800 won) from a wallet of 30,000
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    order = paid_order(user, kr, items_of((sku, 2)), fund=30000)
    assert (sku_stock(sku).on_hand, Wallet.objects.get(user=user).balance) == (48, 4200)
    # when
    services.order_cancel(order_id=str(order.public_id), user=user, reason="too late")
    # then: the units are back on hand through a return movement
    order.refresh_from_db()
    level = sku_stock(sku)
    assert (level.on_hand, level.reserved, movements_sum(level)) == (50, 0, 50)
    assert StockMovement.objects.get(stock_level=level, kind="return").delta == 2
    assert stock_drift() == []
    # the wallet is credited the whole total, the payment is refunded
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 30000 == ledger_sum(wallet)
    assert WalletEntry.objects.get(wallet=wallet, kind="refund").amount == 25800
    assert OrderPayment.objects.get(order=order).status == "refunded"
    refund = OrderRefund.objects.get(order=order)
    assert (refund.amount, refund.destination, refund.status) == (25800, "wallet", "succeeded")
    assert (order.status, order.refunded_amount) == ("cancelled", 25800)
    assert [(ln.refunded_quantity, ln.refunded_amount) for ln in order.lines.all()] == [(2, 25800)]
    event = OutboxEvent.objects.get(type="order.cancelled")
    assert event.payload["refund"]["amount"] == 25800


def test_a_fulfilled_order_is_not_cancellable(kr):
    order, _ = _order_in("fulfilled", kr)
    before = _snapshot(order)
    with pytest.raises(NotCancellable) as caught:
        services.order_cancel(order_id=str(order.public_id), user=order.user)
    assert (caught.value.code, caught.value.http_status) == ("order.not_cancellable", 409)
    assert _snapshot(order) == before


@pytest.mark.parametrize("status", ["cancelled", "refunded"])
def test_a_closed_order_is_not_cancellable(kr, status):
    order, _ = _order_in(status, kr)
    before = _snapshot(order)
    with pytest.raises(NotCancellable):
        services.order_cancel(order_id=str(order.public_id), user=order.user)
    assert _snapshot(order) == before


def test_another_member_cannot_cancel(kr):
    order, _ = _order_in("pending", kr)
    before = _snapshot(order)
    with pytest.raises(OrderNotFound):
        services.order_cancel(order_id=str(order.public_id), user=MemberFactory())
    assert _snapshot(order) == before


def test_a_market_cancellable_only_before_payment_refuses_a_paid_order(kr):
    # given: KR lets members cancel only until they pay
    Market.objects.filter(code="KR").update(cancellation_policy=Market.CancellationPolicy.BEFORE_PAYMENT)
    paid, sku = _order_in("paid", kr)
    pending, _ = _order_in("pending", kr)
    before = _snapshot(paid)
    # when / then: the paid one is refused, nothing changes
    with pytest.raises(NotCancellable):
        services.order_cancel(order_id=str(paid.public_id), user=paid.user)
    assert _snapshot(paid) == before
    assert sku_stock(sku).on_hand == 48
    # and the pending one is still cancellable
    services.order_cancel(order_id=str(pending.public_id), user=pending.user)
    pending.refresh_from_db()
    assert pending.status == "cancelled"


# --- Returns --------------------------------------------------------------------------------------


def _three_line_order(kr: Market) -> Order:
    """Fulfilled: 3 x 3,333 + 1 x 10,000 + 2 x 4,999 won = 29,997 (free shipping)."""
    _, a = stocked(kr=3333)
    _, b = stocked(kr=10000)
    _, c = stocked(kr=4999)
    return fulfilled_order(MemberFactory(), kr, items=items_of((a, 3), (b, 1), (c, 2)))


def test_returning_lines_within_the_window_refunds_each_unit_exactly(kr):
    # given: a fulfilled order, its wallet drained to 0 by the payment
    order = _three_line_order(kr)
    user = order.user
    assert order.total == 29997
    # when: one unit of line 1, then the rest of line 1 and line 3, then everything left
    first = services.order_refund(
        order_id=str(order.public_id),
        user=user,
        reason="dent",
        idempotency_key="r1",
        lines=[{"line": 1, "quantity": 1}],
    )
    second = services.order_refund(
        order_id=str(order.public_id),
        user=user,
        reason="dent",
        idempotency_key="r2",
        lines=[{"line": 1, "quantity": 2}, {"line": 3, "quantity": 1}],
    )
    order.refresh_from_db()
    assert order.status == "fulfilled"
    rest = services.order_refund(order_id=str(order.public_id), user=user, reason="all", idempotency_key="r3")
    # then
    assert (first.amount, second.amount) == (3333, 6666 + 4999)
    assert first.amount + second.amount + rest.amount == 29997
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", 29997) and order.refunded_at is not None
    assert [(ln.refunded_quantity, ln.refunded_amount) for ln in order.lines.order_by("position")] == [
        (3, 9999),
        (1, 10000),
        (2, 9998),
    ]
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 29997 == ledger_sum(wallet)
    assert OrderPayment.objects.get(order=order).status == "refunded"
    assert OutboxEvent.objects.filter(type="order.partially_refunded").count() == 2
    assert OutboxEvent.objects.filter(type="order.refunded").count() == 1
    # the same key again returns the first refund, nothing more
    again = services.order_refund(
        order_id=str(order.public_id),
        user=user,
        reason="dent",
        idempotency_key="r1",
        lines=[{"line": 1, "quantity": 1}],
    )
    assert again.pk == first.pk and Wallet.objects.get(user=user).balance == 29997


@pytest.mark.parametrize(
    "lines",
    [
        [{"line": 9, "quantity": 1}],
        [{"line": 1, "quantity": 4}],
        [{"line": 1, "quantity": 0}],
        [{"line": 1, "quantity": True}],
        [{"line": 1, "quantity": "1"}],
        [],
    ],
)
def test_an_invalid_return_changes_nothing(kr, lines):
    order = _three_line_order(kr)
    before = _snapshot(order)
    with pytest.raises(RefundInvalid) as caught:
        services.order_refund(
            order_id=str(order.public_id), user=order.user, reason="x", idempotency_key=key(), lines=lines
        )
    assert caught.value.code == "order.refund_invalid"
    assert _snapshot(order) == before


def test_returning_more_units_than_are_left_is_refused(kr):
    order = _three_line_order(kr)
    services.order_refund(
        order_id=str(order.public_id),
        user=order.user,
        reason="x",
        idempotency_key=key(),
        lines=[{"line": 1, "quantity": 2}],
    )
    before = _snapshot(order)
    with pytest.raises(RefundInvalid):
        services.order_refund(
            order_id=str(order.public_id),
            user=order.user,
            reason="x",
            idempotency_key=key(),
            lines=[{"line": 1, "quantity": 2}],
        )
    assert _snapshot(order) == before


def test_the_return_window_closes_after_the_markets_days(kr):
    # given: KR's window is 7 days; the order was fulfilled 7 days and 1 minute ago
    order = _three_line_order(kr)
    Order.objects.filter(pk=order.pk).update(fulfilled_at=clock.now() - dt.timedelta(days=7, minutes=1))
    before = _snapshot(order)
    # when: the member returns a line, or all; CS refunds
    with pytest.raises(ReturnWindowClosed) as caught:
        services.order_refund(
            order_id=str(order.public_id),
            user=order.user,
            reason="x",
            idempotency_key=key(),
            lines=[{"line": 2}],
        )
    assert (caught.value.code, caught.value.http_status) == ("order.return_window_closed", 409)
    with pytest.raises(ReturnWindowClosed):
        services.order_refund(
            order_id=str(order.public_id), user=order.user, reason="x", idempotency_key=key()
        )
    with pytest.raises(ReturnWindowClosed):
        services.order_transition(
            order_id=str(order.public_id),
            to_status="refunded",
            actor=staff("cs_agent"),
            reason="x",
            markets=["KR"],
        )
    # then: nothing changed
    assert _snapshot(order) == before
    # and ops may still refund outside the window
    services.order_transition(
        order_id=str(order.public_id),
        to_status="refunded",
        actor=staff("ops_admin"),
        reason="goodwill",
        markets=["KR"],
    )
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", 29997)


def test_a_return_on_the_last_day_of_the_window_is_accepted(kr):
    order = _three_line_order(kr)
    Order.objects.filter(pk=order.pk).update(fulfilled_at=clock.now() - dt.timedelta(days=6, hours=23))
    refund = services.order_refund(
        order_id=str(order.public_id), user=order.user, reason="x", idempotency_key=key(), lines=[{"line": 2}]
    )
    assert refund.amount == 10000


@pytest.mark.parametrize("status", ["pending", "paid", "cancelled"])
def test_only_a_fulfilled_order_can_be_returned(kr, status):
    order, _ = _order_in(status, kr)
    before = _snapshot(order)
    with pytest.raises(InvalidTransition):
        services.order_refund(
            order_id=str(order.public_id), user=order.user, reason="x", idempotency_key=key()
        )
    assert _snapshot(order) == before


# --- Expiry ---------------------------------------------------------------------------------------


def test_expiry_cancels_only_pending_orders_past_their_pay_by_time(kr):
    # given: a due pending order, a pending one not yet due, and a paid one past its time
    due, due_sku = _order_in("pending", kr)
    fresh, fresh_sku = _order_in("pending", kr)
    paid, _ = _order_in("paid", kr)
    now = clock.now()
    Order.objects.filter(pk__in=[due.pk, paid.pk]).update(expires_at=now - dt.timedelta(seconds=1))
    Order.objects.filter(pk=fresh.pk).update(expires_at=now + dt.timedelta(minutes=5))
    # when
    assert services.orders_expire_due(now=now) == 1
    # then
    for order, status in ((due, "cancelled"), (fresh, "pending"), (paid, "paid")):
        order.refresh_from_db()
        assert order.status == status
    assert (sku_stock(due_sku).reserved, sku_stock(fresh_sku).reserved) == (0, 2)
    last = due.status_history.order_by("-pk").first()
    assert (last.actor_id, last.actor_kind, last.reason) == (None, "system", "Not paid in time")
    # and a second sweep, or the countdown of an order not yet due, does nothing
    assert services.orders_expire_due(now=now) == 0
    assert services.order_expire(order_id=fresh.pk, now=now) is False
    assert services.order_expire(order_id=due.pk, now=now) is False


def test_an_expired_order_is_no_longer_payable(kr):
    order, _ = _order_in("pending", kr)
    funded_wallet(order.user, kr, 100000)
    services.orders_expire_due(now=order.expires_at + dt.timedelta(seconds=1))
    with pytest.raises(Exception) as caught:
        services.order_pay_wallet(order_id=str(order.public_id), user=order.user, idempotency_key=key())
    assert getattr(caught.value, "code", None) == "order.not_payable"
    assert Wallet.objects.get(user=order.user).balance == 100000
