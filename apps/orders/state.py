"""The order state machine in one table (ADR 0009): which moves exist, and who may take them.

    PENDING -> PAID -> FULFILLED -> REFUNDED
    PENDING -> CANCELLED
    PAID    -> CANCELLED

Everything else is ``409 order.invalid_transition``. The services own the side effects of
each move (stock, money, events); this module only says what is legal.
"""

from __future__ import annotations

from apps.orders.models import Order

S = Order.Status

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.FULFILLED, S.CANCELLED}),
    S.FULFILLED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
    S.CANCELLED: frozenset(),
}

#: What customer service may do through the internal endpoint and the back office (within
#: policy: a refund only inside the return window). Ops (``orders.force_transition``) may
#: take any legal move, a manual PENDING -> PAID included, and refund outside the window.
CS_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (S.PAID, S.FULFILLED),
        (S.PENDING, S.CANCELLED),
        (S.PAID, S.CANCELLED),
        (S.FULFILLED, S.REFUNDED),
    }
)


def is_legal(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def legal_targets(from_status: str) -> list[str]:
    return sorted(TRANSITIONS.get(from_status, frozenset()))
