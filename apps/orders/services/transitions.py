"""After placement: fulfilment, cancellation, refunds, expiry, and the staff entry point
that dispatches a requested status to the right one of them.

Every use-case here locks the order row first (``order_qs_for_update``), checks the move
against the table in ``apps.orders.state`` and moves the status through ``status_move``
(compare-and-set + history + event). Money goes back to where it came from: a wallet
payment is credited back in the same transaction; a provider payment's refund is recorded
``pending`` and sent after commit (``order_refund_send``), never under a row lock.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.db import transaction
from django.db.models import F

from apps.accounts.models import User
from apps.core import clock
from apps.core.formatting import format_date
from apps.core.outbox import publish
from apps.coupons import services as coupons
from apps.inventory.services import reservation_release_held, stock_return_held
from apps.markets.models import Market
from apps.orders import state
from apps.orders.allocation import unit_shares
from apps.orders.errors import (
    InvalidTransition,
    NotCancellable,
    PaymentPending,
    RefundInvalid,
    ReturnWindowClosed,
    TransitionNotAllowed,
)
from apps.orders.models import Order, OrderLine, OrderPayment, OrderRefund
from apps.orders.services.common import (
    EXPIRED,
    MEMBER,
    STAFF,
    SYSTEM,
    key_hash,
    order_event_payload,
    order_qs_for_update,
    status_label,
    status_move,
)
from apps.payments import services as payments
from apps.payments.models import WalletEntry

logger = structlog.get_logger("apps.orders")

CANCELLED_REASON = "Order cancelled"


def _captured_payment(order: Order) -> OrderPayment | None:
    return (
        OrderPayment.objects.filter(order=order, status=OrderPayment.Status.CAPTURED)
        .select_related("charge")
        .order_by("-pk")
        .first()
    )


def _refund_money(
    order: Order,
    *,
    amount: int,
    reason: str,
    actor: User | None,
    lines: list[dict[str, int]],
    idempotency_key: str | None = None,
) -> OrderRefund:
    """Record a refund of ``amount`` and give the money back where it came from. Runs in
    the caller's transaction (the order row locked). A wallet (or staff-recorded) payment
    is credited to the wallet now; a provider payment's refund is sent after commit."""
    payment = _captured_payment(order)
    now = clock.now()
    to_provider = payment is not None and payment.method == OrderPayment.Method.PAYMENT_METHOD
    refund = OrderRefund.objects.create(
        order=order,
        amount=amount,
        currency=order.currency,
        destination=OrderPayment.Method.PAYMENT_METHOD if to_provider else OrderPayment.Method.WALLET,
        status=OrderRefund.Status.PENDING if to_provider else OrderRefund.Status.SUCCEEDED,
        lines=lines,
        reason=reason[:500],
        idempotency_key=key_hash(idempotency_key) if idempotency_key else None,
        actor=actor,
        created_at=now,
    )
    if to_provider:
        transaction.on_commit(partial(_send_refund_later, refund.pk))
    elif amount > 0:
        wallet = payments.wallet_get_or_create(user=order.user, market=order.market)
        entry = payments.wallet_credit(
            wallet=wallet,
            amount=amount,
            kind=WalletEntry.Kind.REFUND,
            reference=f"order:{order.public_id}:refund:{refund.public_id}",
            actor=actor,
            reason=reason,
        ).entry
        OrderRefund.objects.filter(pk=refund.pk).update(wallet_entry=entry)
        refund.wallet_entry = entry
    Order.objects.filter(pk=order.pk).update(refunded_amount=order.refunded_amount + amount, updated_at=now)
    order.refunded_amount += amount
    if payment is not None and order.refunded_amount >= order.total:
        OrderPayment.objects.filter(pk=payment.pk).update(status=OrderPayment.Status.REFUNDED, updated_at=now)
    return refund


def _send_refund_later(refund_id: int) -> None:
    from apps.orders.tasks import order_refund_send_task

    try:
        order_refund_send_task.delay(refund_id=refund_id)
    except Exception:  # noqa: BLE001 - the beat retry (order_refunds_send_pending) is the backstop
        logger.warning("orders.refund_not_queued", flow="payment", refund_id=refund_id)


def order_refund_send(*, refund_id: int) -> OrderRefund:
    """Send a pending provider refund (after commit, or the beat retry). The reference is
    the refund's id, so the provider refunds once however often this runs.
    Raises: payment.provider_unavailable, payment.declined (the refund stays pending)."""
    refund = OrderRefund.objects.select_related("order").get(pk=refund_id)
    if refund.status != OrderRefund.Status.PENDING:
        return refund
    payment = _captured_payment(refund.order) or (
        OrderPayment.objects.filter(order=refund.order, method=OrderPayment.Method.PAYMENT_METHOD)
        .select_related("charge")
        .order_by("-pk")
        .first()
    )
    if payment is None or payment.charge is None:
        raise InvalidTransition(order=refund.order.number, from_status="", to_status="")
    provider_id = payments.charge_refund(
        charge=payment.charge, amount=refund.amount, reference=f"order-refund:{refund.public_id}"
    )
    OrderRefund.objects.filter(pk=refund.pk, status=OrderRefund.Status.PENDING).update(
        status=OrderRefund.Status.SUCCEEDED, provider_refund_id=provider_id[:100]
    )
    refund.refresh_from_db()
    return refund


def order_refunds_send_pending(*, limit: int = 100) -> int:
    """Beat: retry provider refunds still pending (the provider was down at the time)."""
    sent = 0
    for refund_id in list(
        OrderRefund.objects.filter(status=OrderRefund.Status.PENDING).values_list("pk", flat=True)[:limit]
    ):
        try:
            order_refund_send(refund_id=refund_id)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - stays pending; tried again next time
            logger.warning("orders.refund_send_failed", flow="payment", refund_id=refund_id, error=str(exc))
    return sent


# --- Cancellation and expiry -----------------------------------------------------------------


def _cancel_locked(order: Order, *, actor: User | None, actor_kind: str, reason: str) -> Order:
    if order.status == Order.Status.PENDING:
        if OrderPayment.objects.filter(order=order, status=OrderPayment.Status.PENDING).exists():
            raise PaymentPending(order=order.number)
        reservation_release_held(owner=order.owner, reason=CANCELLED_REASON)
        coupons.coupon_release(owner=order.owner)
        return status_move(
            order, to=Order.Status.CANCELLED, actor=actor, actor_kind=actor_kind, reason=reason
        )
    if order.status == Order.Status.PAID:
        # Stock back first, then the money (the lock order of every flow: inventory, wallet).
        stock_return_held(owner=order.owner, reason=CANCELLED_REASON, actor=actor)
        coupons.coupon_restore(owner=order.owner)  # while its campaign still runs
        remaining = order.total - order.refunded_amount
        refund = None
        if remaining > 0:
            refund = _refund_money(
                order,
                amount=remaining,
                reason=reason or CANCELLED_REASON,
                actor=actor,
                lines=[
                    {"line": line.position, "quantity": line.quantity - line.refunded_quantity}
                    for line in order.lines.all()
                ],
            )
            OrderLine.objects.filter(order=order).update(
                refunded_quantity=F("quantity"), refunded_amount=F("line_total")
            )
        return status_move(
            order,
            to=Order.Status.CANCELLED,
            actor=actor,
            actor_kind=actor_kind,
            reason=reason,
            payload={"refund": _refund_json(refund)} if refund else None,
        )
    raise NotCancellable(order=order.number, status=status_label(order.status))


def _refund_json(refund: OrderRefund) -> dict[str, Any]:
    return {
        "id": str(refund.public_id),
        "amount": refund.amount,
        "destination": refund.destination,
        "status": refund.status,
    }


@transaction.atomic(durable=True)
def order_cancel(*, order_id: str, user: User, reason: str = "") -> Order:
    """A member cancels their order before it ships: PENDING releases the stock; PAID
    returns the stock (a ``return`` movement) and refunds the whole payment to where it
    came from. A market whose policy is "cancellable until paid" refuses a paid one.
    Locks: the order row, the stock rows, the wallet row.
    Raises: order.not_found, order.not_cancellable, order.payment_pending.
    Emits: order.cancelled (+ inventory.released / inventory.adjusted, wallet.credited)."""
    order = order_qs_for_update(public_id=order_id, user=user)
    if (
        order.status == Order.Status.PAID
        and order.market.cancellation_policy == Market.CancellationPolicy.BEFORE_PAYMENT
    ):
        raise NotCancellable(order=order.number, status=status_label(order.status))
    return _cancel_locked(order, actor=user, actor_kind=MEMBER, reason=reason)


@transaction.atomic(durable=True)
def order_expire(*, order_id: int, now: dt.datetime | None = None) -> bool:
    """Cancel a PENDING order past its pay-by time (the countdown task and the sweep). A
    no-op for an order paid, cancelled, not yet due, or with a provider payment in flight.
    Locks: the order row, then the stock rows. Emits: order.cancelled."""
    now = now or clock.now()
    order = order_qs_for_update(pk=order_id)
    if order.status != Order.Status.PENDING or order.expires_at > now:
        return False
    if OrderPayment.objects.filter(order=order, status=OrderPayment.Status.PENDING).exists():
        return False
    reservation_release_held(owner=order.owner, reason="Order expired")
    coupons.coupon_release(owner=order.owner)
    status_move(order, to=Order.Status.CANCELLED, actor=None, actor_kind=SYSTEM, reason=EXPIRED)
    logger.info("orders.expired", flow="checkout", order=order.number)
    return True


def orders_expire_due(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """The sweep (beat): cancel every PENDING order past its pay-by time."""
    now = now or clock.now()
    ids = list(
        Order.objects.filter(status=Order.Status.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for order_id in ids if order_expire(order_id=order_id, now=now))


# --- Fulfilment and returns -----------------------------------------------------------------


def _return_window_end(order: Order) -> dt.datetime:
    fulfilled = order.fulfilled_at or order.updated_at
    return fulfilled + dt.timedelta(days=order.market.return_window_days)


def _refund_lines_locked(
    order: Order,
    *,
    wanted: list[dict[str, Any]] | None,
    actor: User | None,
    actor_kind: str,
    reason: str,
    idempotency_key: str | None,
    enforce_window: bool,
) -> OrderRefund:
    if order.status != Order.Status.FULFILLED:
        raise InvalidTransition(
            order=order.number,
            from_status=status_label(order.status),
            to_status=status_label(Order.Status.REFUNDED),
        )
    now = clock.now()
    window_end = _return_window_end(order)
    if enforce_window and now > window_end:
        local = window_end.astimezone(ZoneInfo(order.market.time_zone)).date()
        raise ReturnWindowClosed(order=order.number, closed_on=format_date(local))
    lines = {line.position: line for line in order.lines.select_for_update().order_by("position")}
    plan: list[tuple[OrderLine, int, int]] = []
    for spec in wanted if wanted is not None else [{"line": p} for p in lines]:
        line = lines.get(spec.get("line"))  # type: ignore[arg-type]
        if line is None:
            raise RefundInvalid()
        left = line.quantity - line.refunded_quantity
        quantity = spec.get("quantity", left)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1 or quantity > left:
            if wanted is None and left == 0:
                continue
            raise RefundInvalid()
        shares = unit_shares(line.line_total, line.quantity)
        amount = sum(shares[line.refunded_quantity : line.refunded_quantity + quantity])
        plan.append((line, quantity, amount))
    if not plan:
        raise RefundInvalid()
    for line, quantity, amount in plan:
        moved = OrderLine.objects.filter(pk=line.pk, refunded_quantity=line.refunded_quantity).update(
            refunded_quantity=line.refunded_quantity + quantity, refunded_amount=line.refunded_amount + amount
        )
        assert moved == 1  # the lines are locked
        line.refunded_quantity += quantity
        line.refunded_amount += amount
    total = sum(amount for _, _, amount in plan)
    refund = _refund_money(
        order,
        amount=total,
        reason=reason,
        actor=actor,
        lines=[{"line": line.position, "quantity": q, "amount": a} for line, q, a in plan],
        idempotency_key=idempotency_key,
    )
    if all(line.refunded_quantity == line.quantity for line in lines.values()):
        status_move(
            order,
            to=Order.Status.REFUNDED,
            actor=actor,
            actor_kind=actor_kind,
            reason=reason,
            payload={"refund": _refund_json(refund)},
        )
    else:
        publish(
            type="order.partially_refunded",
            aggregate_type="order",
            locked=True,  # the order row is locked (order_qs_for_update)
            aggregate_id=str(order.public_id),
            market=order.market_id,
            payload=order_event_payload(
                order, reason=reason, refund=_refund_json(refund), lines=refund.lines
            ),
        )
    return refund


@transaction.atomic(durable=True)
def order_refund(
    *,
    order_id: str,
    user: User,
    reason: str,
    idempotency_key: str,
    lines: list[dict[str, Any]] | None = None,
) -> OrderRefund:
    """A member returns a fulfilled order, whole or some lines (``[{"line", "quantity"}]``),
    within the market's return window; each line's refund is exact (``unit_shares``).
    The same key returns the first refund.
    Locks: the order row, its lines, the wallet row.
    Raises: order.not_found, order.invalid_transition, order.return_window_closed,
    order.refund_invalid. Emits: order.refunded (all returned) or order.partially_refunded."""
    order = order_qs_for_update(public_id=order_id, user=user)
    existing = OrderRefund.objects.filter(order=order, idempotency_key=key_hash(idempotency_key)).first()
    if existing is not None:
        return existing
    return _refund_lines_locked(
        order,
        wanted=lines,
        actor=user,
        actor_kind=MEMBER,
        reason=reason,
        idempotency_key=idempotency_key,
        enforce_window=True,
    )


# --- Staff ---------------------------------------------------------------------------------


def _staff_may(actor: User, frm: str, to: str) -> bool:
    if actor.has_perm("orders.force_transition"):
        return True
    return actor.has_perm("orders.transition_order") and (frm, to) in state.CS_TRANSITIONS


@transaction.atomic(durable=True)
def order_transition(*, order_id: str, to_status: str, actor: User, reason: str, markets: list[str]) -> Order:
    """A staff member moves an order (the internal endpoint, the back office), within their
    ``markets``. CS may fulfil, cancel and refund (inside the return window); ops
    (``orders.force_transition``) any legal move, a refund outside the window and a manual
    payment (PENDING -> PAID) included. A reason is required (the audit).
    Locks: the order row first, then whatever the move touches.
    Raises: order.not_found, order.invalid_transition, order.transition_not_allowed,
    order.return_window_closed, order.payment_pending, order.not_payable.
    """
    order = order_qs_for_update(public_id=order_id, market_id__in=markets)
    frm = order.status
    if to_status not in Order.Status.values or not state.is_legal(frm, to_status):
        raise InvalidTransition(
            order=order.number, from_status=status_label(frm), to_status=status_label(to_status)
        )
    if not _staff_may(actor, frm, to_status):
        raise TransitionNotAllowed(to_status=status_label(to_status))
    if to_status == Order.Status.CANCELLED:
        return _cancel_locked(order, actor=actor, actor_kind=STAFF, reason=reason)
    if to_status == Order.Status.FULFILLED:
        return status_move(order, to=Order.Status.FULFILLED, actor=actor, actor_kind=STAFF, reason=reason)
    if to_status == Order.Status.REFUNDED:
        _refund_lines_locked(
            order,
            wanted=None,
            actor=actor,
            actor_kind=STAFF,
            reason=reason,
            idempotency_key=None,
            enforce_window=not actor.has_perm("orders.force_transition"),
        )
        return order
    # PENDING -> PAID: a payment recorded by ops.
    from apps.orders.services.paying import _capture, _live_payment

    if _live_payment(order) is not None:
        raise PaymentPending(order=order.number)
    now = clock.now()
    payment = OrderPayment.objects.create(
        order=order,
        method=OrderPayment.Method.MANUAL,
        status=OrderPayment.Status.PENDING,
        amount=order.total,
        currency=order.currency,
        created_at=now,
        updated_at=now,
    )
    _capture(order, payment, actor=actor, actor_kind=STAFF, reason=reason)
    return order
