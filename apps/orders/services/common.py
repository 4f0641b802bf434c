"""What every order use-case shares: finding and locking an order, moving its status (the
one place that writes ``status`` and ``status_history``), and its event payloads."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from apps.accounts.models import User
from apps.core import clock
from apps.core.compiled import Compiled, CompiledUpdate, insert
from apps.core.outbox import publish
from apps.markets.selectors import market_map
from apps.orders import state
from apps.orders.errors import InvalidTransition, OrderNotFound
from apps.orders.models import Order, OrderLine, OrderPayment, OrderRefund, OrderStatusChange

#: ``actor_kind`` values of the history.
MEMBER, STAFF, SYSTEM = "member", "staff", "system"

#: The timestamp each status stamps when it is entered.
_STAMPS = {
    Order.Status.PAID: "paid_at",
    Order.Status.FULFILLED: "fulfilled_at",
    Order.Status.CANCELLED: "cancelled_at",
    Order.Status.REFUNDED: "refunded_at",
}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def status_label(status: str) -> str:
    """The status in the active language (for error messages)."""
    return str(Order.Status(status).label) if status in Order.Status.values else status


def _order_locked_qs(**lookup: Any) -> QuerySet[Order]:
    qs = Order.objects.select_related("user").filter(**lookup)
    if connection.vendor == "postgresql":
        qs = qs.select_for_update(of=("self",))
    return qs.order_by("pk")[:1]


#: Every payment and transition starts here: compiled once per lookup shape.
_ORDER_LOCKED = Compiled(Order, lambda p: _order_locked_qs(**vars(p)), write=True)


def order_qs_for_update(**lookup: Any) -> Order:
    """The order, row-locked until the caller commits: two transitions of one order never
    interleave. Lock order: the order row first, then inventory, then the wallet.
    ``user=`` is the member's (their orders only); ``public_id`` a UUID or its text.
    Raises: order.not_found."""
    shown = str(lookup.get("public_id") or lookup.get("pk") or "")
    if "user" in lookup:
        lookup["user_id"] = lookup.pop("user").pk
    if isinstance(lookup.get("public_id"), str):
        try:
            lookup["public_id"] = uuid.UUID(lookup["public_id"])
        except ValueError:
            raise OrderNotFound(order=shown[:64]) from None
    if "market_id__in" in lookup:
        lookup["market_id__in"] = sorted(lookup["market_id__in"])
    order = _ORDER_LOCKED.first(**lookup)
    if order is None:
        raise OrderNotFound(order=shown)
    # The market from the per-process markets map (configuration), not a join of its columns.
    market = market_map().get(order.market_id)
    if market is not None:
        order.market = market
    return order


_HISTORY = Compiled(
    OrderStatusChange,
    lambda p: OrderStatusChange.objects.filter(order_id=p.order_id).order_by("created_at", "pk"),
)


def order_shaped(
    order: Order,
    *,
    lines: Sequence[OrderLine],
    history: Sequence[OrderStatusChange] | None = None,
    payments: Sequence[OrderPayment] = (),
    refunds: Sequence[OrderRefund] = (),
) -> Order:
    """``order`` shaped like the detail selectors' (lines, history, payments and refunds
    prefetched) from rows the use-case already holds, so the answer needs no re-read. The
    lines in position order; ``history`` None: read it (one query, in the selectors' order).
    Only for a use-case that knows these are all of the order's rows (a fresh order, a
    payment it just captured: a failed attempt is never shown, a pending order has no
    refunds)."""
    if history is None:
        history = _HISTORY.fetch(order_id=order.pk)
    rows: dict[str, list[Any]] = {
        "lines": sorted(lines, key=lambda line: line.position),
        "status_history": list(history),
        "payments": sorted(payments, key=lambda payment: -int(payment.pk)),
        "refunds": list(refunds),
    }
    cache: dict[str, Any] = {}
    for name, values in rows.items():
        # What prefetch_related stores: the relation's queryset with its rows in place.
        qs = getattr(order, name).get_queryset()
        qs._result_cache = values
        qs._prefetch_done = True
        cache[name] = qs
    order._prefetched_objects_cache = cache  # type: ignore[attr-defined]
    return order


def order_event_payload(order: Order, **extra: Any) -> dict[str, Any]:
    return {
        "order_id": str(order.public_id),
        "number": order.number,
        "user_id": order.user_id,
        "status": order.status,
        "currency": order.currency,
        "total": order.total,
        "refunded_amount": order.refunded_amount,
        **extra,
    }


_STATUS_UPDATES: dict[str | None, CompiledUpdate] = {}


def _status_update(stamp: str | None) -> CompiledUpdate:
    """The compare-and-set of ``status_move``, compiled once per stamped column."""
    update = _STATUS_UPDATES.get(stamp)
    if update is None:

        def build(p: Any) -> tuple[QuerySet[Order], dict[str, Any]]:
            changes = {"status": p.to, "updated_at": p.now, **({stamp: p.stamp} if stamp else {})}
            return Order.objects.filter(pk=p.pk, status=p.frm), changes

        update = _STATUS_UPDATES[stamp] = CompiledUpdate(Order, build)
    return update


def status_move(
    order: Order,
    *,
    to: str,
    actor: User | None,
    actor_kind: str,
    reason: str = "",
    event: str | None = None,
    payload: dict[str, Any] | None = None,
) -> Order:
    """Move a locked ``order`` to ``to``: compare-and-set on the status it had, a history
    row and the outbox event (``order.<to>`` unless named). The only writer of status.
    Runs in the caller's transaction. Raises: order.invalid_transition."""
    frm = order.status
    if not state.is_legal(frm, to):
        raise InvalidTransition(order=order.number, from_status=status_label(frm), to_status=status_label(to))
    now = clock.now()
    changes: dict[str, Any] = {"status": to, "updated_at": now}
    stamp = _STAMPS.get(Order.Status(to))
    if stamp:
        changes[stamp] = now
    moved = _status_update(stamp).execute(
        pk=order.pk, frm=frm, to=to, now=now, **({"stamp": now} if stamp else {})
    )
    if moved != 1:  # unreachable under the row lock; never move twice
        raise InvalidTransition(order=order.number, from_status=status_label(frm), to_status=status_label(to))
    for name, value in changes.items():
        setattr(order, name, value)
    insert(
        OrderStatusChange(
            order=order,
            from_status=frm,
            to_status=to,
            actor=actor,
            actor_kind=actor_kind,
            reason=reason[:500],
            created_at=now,
        )
    )
    publish(
        type=event or f"order.{to}",
        aggregate_type="order",
        locked=True,  # the compare-and-set UPDATE above holds the order row
        aggregate_id=str(order.public_id),
        market=order.market_id,
        payload=order_event_payload(order, from_status=frm, reason=reason, **(payload or {})),
    )
    return order


#: Reasons the system writes into the history: stored in English, shown translated
#: (``SYSTEM_REASONS`` in the selectors), like the stock ledger's.
EXPIRED = "Not paid in time"
