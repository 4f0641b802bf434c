"""Rounding never loses or invents a won or a cent (issue 20 "Show" 3).

1,000 seeded random orders in KRW and USD, 1-5 lines each, with a random coupon discount
split over the lines by ``apps.orders.allocation`` (coupons come with issue 21), the
market's tax and shipping split the same way, and random partial refunds by units
(``unit_shares``): every share set sums exactly, no line goes negative, the refunds of all
units of a line give back the line total, and the lines give back the order total. Then 50
real orders through ``order_place`` and ``order_refund`` with the same properties."""

from __future__ import annotations

import random

import pytest

from apps.carts.calculators import shipping_calculator, tax_calculator
from apps.core.money import Money
from apps.markets.models import Market
from apps.orders import services
from apps.orders.allocation import allocate, unit_shares
from apps.orders.models import Order, OrderRefund
from apps.payments.models import Wallet
from tests.orders.factories import (
    MemberFactory,
    fulfilled_order,
    items_of,
    key,
    ledger_sum,
    stocked,
)

pytestmark = pytest.mark.django_db

SEED = 20261130
PRICES = {"KRW": (100, 500_000), "USD": (1, 99_999)}


def _random_refund_rounds(rng: random.Random, quantity: int) -> list[int]:
    """A random split of ``quantity`` units into partial refunds (each >= 1 unit)."""
    rounds, left = [], quantity
    while left:
        take = rng.randint(1, left)
        rounds.append(take)
        left -= take
    return rounds


def _priced_order(rng: random.Random, market: Market) -> dict:
    """What placement computes for random lines and a random coupon."""
    low, high = PRICES[market.currency]
    lines = [(rng.randint(low, high), rng.randint(1, 9)) for _ in range(rng.randint(1, 5))]
    if rng.random() < 0.2:  # some cheap units, where the rounding bites hardest
        lines = [(rng.randint(low, low * 13), q) for _, q in lines]
    merchandise = [price * quantity for price, quantity in lines]
    coupon = rng.randint(0, sum(merchandise)) if rng.random() < 0.8 else 0
    coupon_shares = allocate(coupon, merchandise)
    net = [m - c for m, c in zip(merchandise, coupon_shares, strict=True)]
    taxable = Money(sum(net), market.currency)
    tax = tax_calculator(market).estimate(market=market, taxable=taxable)
    fee = shipping_calculator(market).quote(market=market, merchandise=taxable).fee.amount
    tax_shares = allocate(tax.amount.amount, net)
    shipping_shares = allocate(fee, net)
    totals = [
        n + (0 if tax.included else t) + s for n, t, s in zip(net, tax_shares, shipping_shares, strict=True)
    ]
    return {
        "lines": lines,
        "merchandise": merchandise,
        "coupon": coupon,
        "coupon_shares": coupon_shares,
        "net": net,
        "tax": tax.amount.amount,
        "included": tax.included,
        "tax_shares": tax_shares,
        "fee": fee,
        "shipping_shares": shipping_shares,
        "totals": totals,
        "total": sum(merchandise) - coupon + (0 if tax.included else tax.amount.amount) + fee,
    }


def test_a_thousand_random_orders_never_lose_a_minor_unit(kr, us):
    rng = random.Random(SEED)
    for n in range(1000):
        market = kr if n % 2 == 0 else us
        o = _priced_order(rng, market)
        where = (SEED, n, market.code, o["lines"], o["coupon"])
        # every order-level amount is split exactly, never below zero, never over the line
        assert sum(o["coupon_shares"]) == o["coupon"], where
        assert sum(o["tax_shares"]) == o["tax"], where
        assert sum(o["shipping_shares"]) == o["fee"], where
        for shares in (o["coupon_shares"], o["tax_shares"], o["shipping_shares"]):
            assert all(s >= 0 for s in shares), where
        assert all(0 <= c <= m for c, m in zip(o["coupon_shares"], o["merchandise"], strict=True)), where
        # the lines add up to the order
        assert sum(o["totals"]) == o["total"], where
        assert all(t >= 0 for t in o["totals"]), where
        # random partial refunds by units give back each line exactly, the order exactly
        refunded_order = 0
        for (_, quantity), line_total in zip(o["lines"], o["totals"], strict=True):
            shares = unit_shares(line_total, quantity)
            assert len(shares) == quantity and max(shares) - min(shares) <= 1, where
            done, refunded = 0, 0
            for take in _random_refund_rounds(rng, quantity):
                amount = sum(shares[done : done + take])
                assert amount >= 0, where
                done += take
                refunded += amount
                assert refunded <= line_total, where
            assert refunded == line_total, where
            refunded_order += refunded
        assert refunded_order == o["total"], where


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (2, [1, 1, 1], [1, 1, 0]),
        (10, [0, 0], [5, 5]),
        (7, [3, 0, 4], [3, 0, 4]),
        (1000, [333, 333, 334], [333, 333, 334]),
        (0, [5, 7], [0, 0]),
        (1, [1, 2], [0, 1]),
    ],
)
def test_allocate_known_cases(amount, weights, expected):
    assert allocate(amount, weights) == expected


def test_allocate_refuses_what_cannot_add_up():
    with pytest.raises(ValueError):
        allocate(-1, [1])
    with pytest.raises(ValueError):
        allocate(5, [])
    with pytest.raises(ValueError):
        allocate(5, [1, -1])
    assert allocate(0, []) == []


def test_fifty_real_orders_refunded_in_random_parts_give_back_exactly_the_total(kr, us):
    # given: a shelf of randomly priced products in both markets
    rng = random.Random(SEED + 1)
    stock = {"KR": 1000, "US": 1000}
    shelf = [
        stocked(kr=rng.randint(100, 99_000), us=rng.randint(1, 9_999), stock=stock)[1] for _ in range(15)
    ]
    for n in range(50):
        market = kr if n % 2 == 0 else us
        skus = rng.sample(shelf, rng.randint(1, 5))
        items = items_of(*[(sku, rng.randint(1, 5)) for sku in skus])
        user = MemberFactory(market_id=market.code)
        # when: placed, paid, shipped
        order = fulfilled_order(user, market, items=items)
        lines = list(order.lines.order_by("position"))
        where = (SEED + 1, n, market.code, items)
        # then: the lines add up
        assert order.total == sum(ln.line_total for ln in lines), where
        assert order.total == (
            order.subtotal
            - order.sale_discount
            - order.coupon_discount
            + (0 if order.tax_included else order.tax)
            + order.shipping_fee
        ), where
        # when: returned in random parts (a few lines at a time) until nothing is left
        left = {ln.position: ln.quantity for ln in lines}
        while any(left.values()):
            wanted = []
            open_lines = sorted(p for p, q in left.items() if q)
            for position in rng.sample(open_lines, rng.randint(1, len(open_lines))):
                take = rng.randint(1, left[position])
                left[position] -= take
                wanted.append({"line": position, "quantity": take})
            refund = services.order_refund(
                order_id=str(order.public_id), user=user, reason="random", idempotency_key=key(), lines=wanted
            )
            assert refund.amount >= 0, where
        # then: exactly the total back, line by line, and in the wallet
        order.refresh_from_db()
        assert order.status == Order.Status.REFUNDED, where
        assert order.refunded_amount == order.total, where
        assert sum(OrderRefund.objects.filter(order=order).values_list("amount", flat=True)) == order.total, (
            where
        )
        assert all(
            (ln.refunded_quantity, ln.refunded_amount) == (ln.quantity, ln.line_total)
            for ln in order.lines.all()
        ), where
        wallet = Wallet.objects.get(user=user)
        assert wallet.balance == order.total == ledger_sum(wallet), where
