"""Paying an order: by wallet (one transaction) or by a saved method (begin, provider call
outside any transaction, apply). Stock is deducted only once the money is secured.

Capture, one transaction: lock the order; it must be PENDING with no live payment; commit
its reservation (an expired hold is re-secured from the same warehouse if the units are
still there, else ``inventory.reservation_expired``); take the money (wallet debit, or the
already-succeeded charge); record the captured payment (a partial unique index allows one
live payment per order: never two captures); order PAID; sales counters; events. Lock
order: the order row, the inventory rows, then the wallet row.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from django.db import IntegrityError, transaction

from apps.accounts.models import User
from apps.carts.services import cart_lines_bought
from apps.catalog.services import products_sales_record
from apps.core import clock
from apps.core.compiled import Compiled, insert
from apps.coupons import services as coupons
from apps.inventory.errors import ReservationExpired
from apps.inventory.services import reservation_commit_held
from apps.orders import metrics
from apps.orders.errors import NotPayable, PaymentPending
from apps.orders.models import Order, OrderLine, OrderPayment
from apps.orders.services.common import MEMBER, key_hash, order_qs_for_update, status_label, status_move
from apps.payments import services as payments
from apps.payments.errors import InsufficientBalance, PaymentDeclined, ProviderUnavailable, decline_reason
from apps.payments.models import Charge, WalletEntry

logger = structlog.get_logger("apps.orders")


@dataclass(frozen=True)
class PaymentOutcome:
    payment: OrderPayment
    order: Order
    #: False: the key had already paid (a retry after a crash): nothing new happened.
    created: bool = True
    #: A payment captured by this call: the order's lines as read for the capture (its
    #: answer shows them without reading them again; ``order_shaped``). Else empty.
    lines: tuple[OrderLine, ...] = ()


def _live_payment(order: Order) -> OrderPayment | None:
    return (
        OrderPayment.objects.filter(
            order=order, status__in=[OrderPayment.Status.PENDING, OrderPayment.Status.CAPTURED]
        )
        .order_by("-pk")
        .first()
    )


def _check_payable(order: Order, hashed_key: str) -> OrderPayment | None:
    """A payment this key already made (returned as the answer), or None to go on.
    Raises: order.not_payable, order.payment_pending."""
    live = _live_payment(order)
    if live is not None and live.idempotency_key == hashed_key:
        return live
    if live is not None and live.status == OrderPayment.Status.PENDING:
        raise PaymentPending(order=order.number)
    if order.status != Order.Status.PENDING:
        raise NotPayable(order=order.number, status=status_label(order.status))
    return None


_LINES = Compiled(OrderLine, lambda p: OrderLine.objects.filter(order_id=p.order_id).order_by("position"))


def _record_sales(order: Order, lines: list[OrderLine]) -> None:
    """The order's units per product into the sales counters: two statements in all."""
    per_product: dict[int, int] = {}
    for line in lines:
        per_product[line.product_id_snapshot] = per_product.get(line.product_id_snapshot, 0) + line.quantity
    products_sales_record(market_code=order.market_id, units=per_product, at=order.paid_at)


def _capture(
    order: Order,
    payment: OrderPayment,
    *,
    actor: User | None,
    actor_kind: str,
    reason: str = "",
    stock_committed: bool = False,
) -> list[OrderLine]:
    """Commit the stock and use the held coupon (unless the caller did both) and mark the
    order PAID (the caller took the money). Returns the order's lines (read once, for the
    counters and the cart)."""
    if not stock_committed:
        reservation_commit_held(owner=order.owner, actor=actor)
        if order.coupon_code:  # an order holds a coupon only when it was placed with one
            coupons.coupon_use(owner=order.owner, order_number=order.number)
    now = clock.now()
    if payment.status != OrderPayment.Status.CAPTURED:  # a wallet payment is created captured
        OrderPayment.objects.filter(pk=payment.pk).update(
            status=OrderPayment.Status.CAPTURED, captured_at=now, updated_at=now
        )
        payment.status, payment.captured_at = OrderPayment.Status.CAPTURED, now
    status_move(
        order,
        to=Order.Status.PAID,
        actor=actor,
        actor_kind=actor_kind,
        reason=reason,
        payload={
            "payment": {"method": payment.method, "amount": payment.amount, "id": str(payment.public_id)}
        },
    )
    lines = _LINES.fetch(order_id=order.pk)  # one read for the counters and the cart
    for line in lines:
        OrderLine.order.field.set_cached_value(line, order)  # as ``order.lines.all()`` would
    _record_sales(order, lines)
    if order.from_cart:
        # What was bought leaves the member's cart in this same transaction: three short
        # statements, cheaper than a task per order (a task's publish, its worker and its
        # reads cost more of the same cores), and the cart is right when the answer comes.
        cart_lines_bought(user_id=order.user_id, bought=[(line.sku_id, line.quantity) for line in lines])
    return lines


class _PaymentTaken(Exception):
    """Another live payment holds the order: the partial unique index refused ours (inside
    ``_order_pay_wallet``; its transaction rolls back)."""


def _live_payment_conflict(exc: IntegrityError) -> bool:
    # PostgreSQL names the constraint; SQLite names its column.
    text = str(exc)
    return "orders_payment_one_live_per_order" in text or "orders_orderpayment.order_id" in text


@metrics.counts_payment(metrics.WALLET)
def order_pay_wallet(*, order_id: str, user: User, idempotency_key: str) -> PaymentOutcome:
    """Pay ``order_id`` from the member's wallet, all in one transaction.

    A PENDING order is paid without first looking for a live payment: the partial unique
    index (one live payment per order) refuses a second one, and only then, after the
    rollback, is the live payment read to answer (this key's own payment, or
    ``order.payment_pending``). The happy path never pays that read.

    Locks: the order row, its stock rows, the wallet row, the cart row (in that order).
    Raises: order.not_found, order.not_payable, order.payment_pending,
    wallet.insufficient_balance (402; the order stays payable until it expires),
    inventory.reservation_expired.
    Emits: order.paid, wallet.debited, inventory.committed.
    """
    hashed = key_hash(idempotency_key)
    for _attempt in range(2):
        try:
            return _order_pay_wallet(order_id=order_id, user=user, hashed=hashed)
        except _PaymentTaken:
            with transaction.atomic(durable=True):
                order = order_qs_for_update(public_id=order_id, user=user)
                done = _check_payable(order, hashed)
            if done is not None:
                return PaymentOutcome(done, order, created=False)
            # The live payment failed meanwhile: the order is payable again; one more try.
    raise PaymentPending(order=order.number)


@transaction.atomic(durable=True)
def _order_pay_wallet(*, order_id: str, user: User, hashed: str) -> PaymentOutcome:
    order = order_qs_for_update(public_id=order_id, user=user)
    if order.status != Order.Status.PENDING:
        done = _check_payable(order, hashed)  # this key's payment, or raises
        assert done is not None
        return PaymentOutcome(done, order, created=False)
    now = clock.now()
    # Stock, then the coupon, then the wallet: every flow locks in this order (a
    # cancellation returns stock, restores the coupon, then credits), so none waits on another.
    reservation_commit_held(owner=order.owner, actor=user)
    if order.coupon_code:  # an order holds a coupon only when it was placed with one
        coupons.coupon_use(owner=order.owner, order_number=order.number)
    entry: WalletEntry | None = None
    if order.total > 0:
        try:
            entry = payments.member_wallet_debit(
                user=user,
                market=order.market,
                amount=order.total,
                kind=WalletEntry.Kind.PAYMENT,
                # Never posted before: the order is PENDING, and a payment that failed
                # rolled its debit back; the unique index stays the backstop.
                reference=f"order:{order.public_id}:payment",
                actor=user,
            ).entry
        except InsufficientBalance:
            # A method payment already pending is the better answer than the balance.
            if _live_payment(order) is not None:
                raise _PaymentTaken() from None
            raise
    # Captured from the start: the money is taken in this same transaction, so no one can
    # ever see this payment pending (one live payment per order holds the same either way).
    try:
        payment = insert(
            OrderPayment(
                order=order,
                method=OrderPayment.Method.WALLET,
                status=OrderPayment.Status.CAPTURED,
                amount=order.total,
                currency=order.currency,
                wallet_entry=entry,
                idempotency_key=hashed,
                created_at=now,
                captured_at=now,
                updated_at=now,
            )
        )
    except IntegrityError as exc:
        if _live_payment_conflict(exc):
            raise _PaymentTaken() from exc
        raise
    lines = _capture(order, payment, actor=user, actor_kind=MEMBER, stock_committed=True)
    logger.info("orders.paid", flow="payment", order=order.number, method="wallet", amount=order.total)
    return PaymentOutcome(payment, order, lines=tuple(lines))


@transaction.atomic(durable=True)
def _method_payment_begin(
    *, order_id: str, user: User, payment_method_id: str, idempotency_key: str
) -> tuple[Order, OrderPayment, bool]:
    hashed = key_hash(idempotency_key)
    order = order_qs_for_update(public_id=order_id, user=user)
    done = _check_payable(order, hashed)
    if done is not None:
        return order, done, False
    method = payments.payment_method_for_charge(user=user, market=order.market, method_id=payment_method_id)
    retried = (
        OrderPayment.objects.filter(order=order, idempotency_key=hashed, status=OrderPayment.Status.FAILED)
        .order_by("-pk")
        .first()
    )
    charge = payments.charge_begin(
        user=user,
        market=order.market,
        method=method,
        amount=order.total,
        purpose=Charge.Purpose.ORDER,
        request_key=f"order:{order.public_id}:{idempotency_key}",
    )
    now = clock.now()
    if retried is not None and retried.charge_id == charge.pk:
        # The same key after the provider was unreachable: the charge was reopened, and so
        # is its payment (a charge belongs to one payment).
        OrderPayment.objects.filter(pk=retried.pk, status=OrderPayment.Status.FAILED).update(
            status=OrderPayment.Status.PENDING, failure_code="", updated_at=now
        )
        retried.refresh_from_db()
        return order, retried, False
    payment = OrderPayment.objects.create(
        order=order,
        method=OrderPayment.Method.PAYMENT_METHOD,
        status=OrderPayment.Status.PENDING,
        amount=order.total,
        currency=order.currency,
        charge=charge,
        payment_method=method,
        idempotency_key=hashed,
        created_at=now,
        updated_at=now,
    )
    return order, payment, True


def order_pay_method(
    *, order_id: str, user: User, payment_method_id: str, idempotency_key: str
) -> PaymentOutcome:
    """Pay ``order_id`` with a saved method through the provider.

    Not one transaction on purpose: the provider call happens between two (no network I/O
    under row locks). A timed-out answer leaves the payment pending; the settle tasks ask
    the provider and finish it (``order_payments_settle``).
    Raises: order.not_found, order.not_payable, order.payment_pending,
    payment_method.not_found, payment_method.market_mismatch, payment.declined,
    payment.provider_unavailable.
    Emits: order.paid, inventory.committed.
    """
    order, payment, _created = _method_payment_begin(
        order_id=order_id, user=user, payment_method_id=payment_method_id, idempotency_key=idempotency_key
    )
    if payment.status == OrderPayment.Status.CAPTURED or payment.charge_id is None:
        return PaymentOutcome(payment, order, created=False)
    charge = Charge.objects.select_related("payment_method").get(pk=payment.charge_id)
    if charge.status == Charge.Status.PENDING:
        payments.charge_send(charge)
    return order_payment_apply(payment_id=int(payment.pk))


@metrics.counts_payment(metrics.PAYMENT_METHOD)
def order_payment_apply(*, payment_id: int) -> PaymentOutcome:
    """Apply what the provider said about a method payment's charge (the request, or the
    settle task later). Succeeded: capture (or, when the order can no longer be captured,
    refund the charge through the provider). Failed: the payment fails and the order stays
    payable. Still pending: nothing yet.
    Raises: payment.declined, payment.provider_unavailable (the charge failed)."""
    refund_due = False
    with transaction.atomic(durable=True):
        payment = OrderPayment.objects.select_related("charge").get(pk=payment_id)
        order = order_qs_for_update(pk=payment.order_id)
        payment = OrderPayment.objects.select_related("charge").get(pk=payment_id)
        charge = payment.charge
        if payment.status != OrderPayment.Status.PENDING or charge is None:
            return PaymentOutcome(payment, order, created=False)
        now = clock.now()
        if charge.status == Charge.Status.PENDING:
            return PaymentOutcome(payment, order)
        if charge.status == Charge.Status.FAILED:
            OrderPayment.objects.filter(pk=payment.pk).update(
                status=OrderPayment.Status.FAILED, failure_code=charge.failure_code, updated_at=now
            )
            payment.status = OrderPayment.Status.FAILED
        else:
            try:
                with transaction.atomic():
                    if order.status != Order.Status.PENDING:
                        raise NotPayable(order=order.number, status=status_label(order.status))
                    _capture(order, payment, actor=order.user, actor_kind=MEMBER)
            except (NotPayable, ReservationExpired):
                refund_due = True
                # Recorded as owed before the provider is asked: if the refund call fails,
                # order_payments_settle sends it again (same reference: refunded once).
                OrderPayment.objects.filter(pk=payment.pk).update(
                    status=OrderPayment.Status.FAILED, failure_code=REFUND_DUE, updated_at=now
                )
                payment.status = OrderPayment.Status.FAILED
    if refund_due:
        # The money came in but the order could not take it (expired, stock gone): give it back.
        _refund_not_capturable(payment, charge)
        logger.warning("orders.payment_refunded_not_capturable", flow="payment", order=order.number)
        raise NotPayable(order=order.number, status=status_label(order.status))
    if payment.status == OrderPayment.Status.FAILED:
        if charge.failure_code == "provider_unavailable":
            raise ProviderUnavailable()
        raise PaymentDeclined(reason=decline_reason(charge.failure_code), decline_code=charge.failure_code)
    return PaymentOutcome(payment, order)


#: A method payment whose charge succeeded for an order that could no longer take it: the
#: provider refund is owed (then ``REFUNDED_NOT_CAPTURABLE`` once the provider confirmed).
REFUND_DUE = "refund_due"
REFUNDED_NOT_CAPTURABLE = "not_capturable_refunded"


def _refund_not_capturable(payment: OrderPayment, charge: Charge) -> None:
    """Network I/O, outside any transaction. Raises payment.* when the provider fails (the
    payment stays ``refund_due`` for the next settle run)."""
    payments.charge_refund(
        charge=charge, amount=charge.amount, reference=f"order-payment:{payment.public_id}"
    )
    OrderPayment.objects.filter(pk=payment.pk, failure_code=REFUND_DUE).update(
        failure_code=REFUNDED_NOT_CAPTURABLE, updated_at=clock.now()
    )


def order_payments_settle(*, limit: int = 200) -> dict[str, int]:
    """Beat: apply the method payments whose charge the payments settle task has settled.
    Safe to run twice: each apply is compare-and-set on the payment's status."""
    counts = {"applied": 0, "errors": 0}
    due = (
        OrderPayment.objects.filter(status=OrderPayment.Status.PENDING, charge__isnull=False)
        .exclude(charge__status=Charge.Status.PENDING)
        .values_list("pk", flat=True)[:limit]
    )
    for payment_id in list(due):
        try:
            order_payment_apply(payment_id=payment_id)
            counts["applied"] += 1
        except Exception as exc:  # noqa: BLE001 - a domain refusal is an outcome here
            counts["errors"] += 1
            logger.info(
                "orders.payment_settle_outcome", flow="payment", payment_id=payment_id, error=str(exc)
            )
    # Refunds owed for charges that came in too late, whose provider call failed before.
    owed = OrderPayment.objects.filter(
        status=OrderPayment.Status.FAILED, failure_code=REFUND_DUE
    ).select_related("charge")[:limit]
    for payment in list(owed):
        if payment.charge is None:
            continue
        try:
            _refund_not_capturable(payment, payment.charge)
            counts["refunded"] = counts.get("refunded", 0) + 1
        except Exception as exc:  # noqa: BLE001 - still owed; tried again next run
            counts["errors"] += 1
            logger.warning(
                "orders.refund_owed_not_sent", flow="payment", payment_id=payment.pk, error=str(exc)
            )
    return counts
