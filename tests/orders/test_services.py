"""Order placement and payment through the services (issue 20 "Show" 1): the snapshot and
its amounts in both markets, idempotent placement, every refusal leaving nothing behind,
wallet payment (ledger, stock, sales counters, events), expiry of the hold before
payment, and saved-method payments through the sandbox provider over HTTP (success,
decline, outage, timeout settled once, a charge the order can no longer take refunded)."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.carts.errors import CouponNotFound, PurchaseLimitExceeded, SkuUnavailable
from apps.catalog.models import ProductSalesDaily
from apps.core import clock
from apps.core.errors import IdempotencyKeyReused
from apps.core.models import OutboxEvent
from apps.inventory.errors import InsufficientStock, ReservationExpired
from apps.inventory.models import Reservation, StockMovement
from apps.inventory.selectors import stock_drift
from apps.orders import services
from apps.orders.errors import AddressRequired, NotPayable, OrderEmpty, OrderItemsInvalid, PaymentPending
from apps.orders.models import Order, OrderPayment
from apps.payments import services as payments
from apps.payments.errors import InsufficientBalance, PaymentDeclined, ProviderUnavailable
from apps.payments.models import Charge, Wallet, WalletEntry
from tests.orders.conftest import address_for
from tests.orders.factories import (
    MemberFactory,
    funded_wallet,
    items_of,
    key,
    ledger_sum,
    method_for,
    movements_sum,
    place,
    sku_stock,
    stocked,
)

pytestmark = pytest.mark.django_db

#: A sandbox fault delay past the fixture's 1 s read timeout.
PAST_TIMEOUT = 1.5


def _events(kind: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=kind).order_by("sequence"))


def _balance(user, market) -> int:
    wallet = Wallet.objects.filter(user=user, currency=market.currency).first()
    return wallet.balance if wallet else 0


def _pay(order: Order, **kw) -> services.PaymentOutcome:
    return services.order_pay_wallet(
        order_id=str(order.public_id), user=order.user, idempotency_key=key(), **kw
    )


def _expire_hold(order: Order) -> None:
    """The order's stock hold ran out (its pay-by time passed) without the sweep running."""
    past = clock.now() - dt.timedelta(seconds=1)
    Reservation.objects.filter(owner=order.owner).update(expires_at=past)
    Order.objects.filter(pk=order.pk).update(expires_at=past)


# --- Placement ------------------------------------------------------------------------------


def test_a_kr_order_snapshots_its_lines_with_vat_included_and_the_shipping_fee(kr):
    # given: two products in KR, 12,900 and 3,300 won (under the 19,800 free-shipping line)
    user = MemberFactory()
    product1, sku1 = stocked(kr=12900)
    _, sku2 = stocked(kr=3300, kr_sale=2000)
    # when
    placed = services.order_place(
        user=user,
        market=kr,
        idempotency_key=key(),
        items=items_of((sku1, 1), (sku2, 2)),
        shipping_address=address_for(kr),
    )
    # then: merchandise 12,900 + 2 x 2,000 = 16,900; VAT included 16,900 x 10/110 = 1,536.36 -> 1,536
    order = Order.objects.get(pk=placed.order.pk)
    assert placed.created is True
    assert (order.status, order.currency, order.number[:3]) == ("pending", "KRW", "KR-")
    assert (order.subtotal, order.sale_discount, order.coupon_discount) == (12900 + 6600, 2600, 0)
    assert (order.tax, order.tax_included, order.shipping_fee, order.total) == (1536, True, 3000, 19900)
    lines = list(order.lines.order_by("position"))
    assert [(ln.position, ln.sku_code, ln.quantity, ln.list_price, ln.unit_price) for ln in lines] == [
        (1, sku1, 1, 12900, 12900),
        (2, sku2, 2, 3300, 2000),
    ]
    assert lines[0].name_ko == product1.name_ko and lines[0].name_en == product1.name_en
    assert lines[0].product_id_snapshot == product1.pk
    # the order-level amounts are split over the lines by merchandise and add up exactly
    assert sum(ln.tax_share for ln in lines) == 1536 and sum(ln.shipping_share for ln in lines) == 3000
    assert [ln.line_total for ln in lines] == [
        12900 + lines[0].shipping_share,
        4000 + lines[1].shipping_share,
    ]
    assert sum(ln.line_total for ln in lines) == order.total
    assert order.shipping_address == {**address_for(kr), "region": ""}
    # the stock is held (reserved, not yet sold) until the pay-by time
    assert (sku_stock(sku1).on_hand, sku_stock(sku1).reserved) == (50, 1)
    assert (sku_stock(sku2).on_hand, sku_stock(sku2).reserved) == (50, 2)
    held = Reservation.objects.filter(owner=order.owner, status="active")
    assert sorted(held.values_list("quantity", flat=True)) == [1, 2]
    assert order.expires_at == min(r.expires_at for r in held)
    assert (
        dt.timedelta(minutes=15) <= order.expires_at - order.created_at < dt.timedelta(minutes=15, seconds=1)
    )
    assert [(h.from_status, h.to_status, h.actor_kind) for h in order.status_history.all()] == [
        ("", "pending", "member")
    ]
    created = _events("order.created")
    assert [e.aggregate_id for e in created] == [str(order.public_id)]
    assert created[0].payload["total"] == 19900 and len(created[0].payload["lines"]) == 2


def test_a_kr_order_from_the_threshold_ships_free(kr):
    # given: 2 x 12,900 = 25,800 won, over 19,800
    _, sku = stocked(kr=12900)
    # when
    order = place(MemberFactory(), kr, items_of((sku, 2)))
    # then: VAT included 25,800 x 10/110 = 2,345.45 -> 2,345; no shipping fee
    assert (order.tax, order.tax_included, order.shipping_fee, order.total) == (2345, True, 0, 25800)
    assert [ln.line_total for ln in order.lines.all()] == [25800]


def test_a_us_order_adds_sales_tax_and_shipping_in_cents(us):
    # given: $9.99 and $4.99 x 3 = $24.96 (under the $35 line), 8 % sales tax added
    _, sku1 = stocked(us=999)
    _, sku2 = stocked(us=499)
    # when
    order = place(MemberFactory(market_id="US"), us, items_of((sku1, 1), (sku2, 3)))
    # then: tax 2,496 x 0.08 = 199.68 -> 200 cents; shipping $5.99
    assert (order.currency, order.number[:3], order.subtotal) == ("USD", "US-", 2496)
    assert (order.tax, order.tax_included, order.shipping_fee, order.total) == (
        200,
        False,
        599,
        2496 + 200 + 599,
    )
    lines = list(order.lines.order_by("position"))
    assert sum(ln.tax_share for ln in lines) == 200 and sum(ln.shipping_share for ln in lines) == 599
    assert [ln.line_total for ln in lines] == [
        999 + lines[0].tax_share + lines[0].shipping_share,
        1497 + lines[1].tax_share + lines[1].shipping_share,
    ]
    assert sum(ln.line_total for ln in lines) == order.total
    assert sku_stock(sku2, "US").reserved == 3


def test_the_same_key_returns_the_same_order_and_reserves_once(kr):
    # given: an order placed with a key
    user = MemberFactory()
    _, sku = stocked(kr=5000)
    first = services.order_place(
        user=user,
        market=kr,
        idempotency_key="k-1",
        items=items_of((sku, 2)),
        shipping_address=address_for(kr),
    )
    # when: the same request comes again with the same key
    again = services.order_place(
        user=user,
        market=kr,
        idempotency_key="k-1",
        items=items_of((sku, 2)),
        shipping_address=address_for(kr),
    )
    # then: the same order, nothing new
    assert (again.order.pk, again.created) == (first.order.pk, False)
    assert Order.objects.filter(user=user).count() == 1
    assert sku_stock(sku).reserved == 2
    assert Reservation.objects.filter(owner=first.order.owner).count() == 1
    assert len(_events("order.created")) == 1


def test_the_same_key_with_another_request_is_key_reused_and_changes_nothing(kr):
    # given
    user = MemberFactory()
    _, sku = stocked(kr=5000)
    services.order_place(
        user=user,
        market=kr,
        idempotency_key="k-1",
        items=items_of((sku, 2)),
        shipping_address=address_for(kr),
    )
    # when: the key comes back with another quantity
    with pytest.raises(IdempotencyKeyReused) as caught:
        services.order_place(
            user=user,
            market=kr,
            idempotency_key="k-1",
            items=items_of((sku, 3)),
            shipping_address=address_for(kr),
        )
    # then
    assert caught.value.code == "idempotency.key_reused"
    assert Order.objects.filter(user=user).count() == 1
    assert sku_stock(sku).reserved == 2


def test_another_member_may_use_the_same_key(kr):
    # given: a key is per member
    _, sku = stocked(kr=5000)
    a = place(MemberFactory(), kr, items_of((sku, 1)), idempotency_key="same")
    # when
    b = place(MemberFactory(), kr, items_of((sku, 1)), idempotency_key="same")
    # then
    assert a.pk != b.pk and sku_stock(sku).reserved == 2


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ([], OrderItemsInvalid),
        (None, OrderItemsInvalid),
        ("sku", OrderItemsInvalid),
        ([{"sku": "X", "quantity": 0}], OrderItemsInvalid),
        ([{"sku": "X", "quantity": -1}], OrderItemsInvalid),
        ([{"sku": "X", "quantity": 1000}], OrderItemsInvalid),
        ([{"sku": "X", "quantity": "1"}], OrderItemsInvalid),
        ([{"sku": "X", "quantity": True}], OrderItemsInvalid),
        ([{"sku": "", "quantity": 1}], OrderItemsInvalid),
        ([{"quantity": 1}], OrderItemsInvalid),
        (["X"], OrderItemsInvalid),
        ([{"sku": "X", "quantity": 1}] * 51, OrderItemsInvalid),
    ],
)
def test_invalid_items_are_refused_and_nothing_is_created(kr, items, error):
    # given
    user = MemberFactory()
    # when
    with pytest.raises((OrderEmpty, OrderItemsInvalid)) as caught:
        services.order_place(
            user=user, market=kr, idempotency_key=key(), items=items, shipping_address=address_for(kr)
        )
    # then
    assert caught.value.code == error.code
    assert Order.objects.count() == 0 and Reservation.objects.count() == 0


def test_an_empty_cart_is_order_empty(kr):
    # given: a member without a cart
    user = MemberFactory()
    # when
    with pytest.raises(OrderEmpty):
        services.order_place(
            user=user, market=kr, idempotency_key=key(), from_cart=True, shipping_address=address_for(kr)
        )
    # then
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "address",
    [
        None,
        {},
        {**address_for("KR"), "recipient": ""},
        {**address_for("KR"), "line1": "  "},
        {**address_for("KR"), "postal_code": ""},
        {**address_for("KR"), "country": "KOR"},
        {**address_for("KR"), "country": "1R"},
        {**address_for("KR"), "city": "x" * 201},
        "서울 중구 세종대로 110",
    ],
)
def test_an_incomplete_address_is_refused_and_nothing_is_reserved(kr, address):
    # given
    _, sku = stocked(kr=5000)
    # when
    with pytest.raises(AddressRequired) as caught:
        services.order_place(
            user=MemberFactory(),
            market=kr,
            idempotency_key=key(),
            items=items_of((sku, 1)),
            shipping_address=address,
        )
    # then
    assert caught.value.code == "order.address_required"
    assert Order.objects.count() == 0 and sku_stock(sku).reserved == 0


def test_an_unavailable_sku_is_refused(kr):
    # given: a SKU stocked only in the US, a product taken off sale, and a code that does not exist
    _, us_only = stocked(kr=5000, stock={"US": 5})
    off_sale, retired = stocked(kr=5000)
    off_sale.is_active = False
    off_sale.save(update_fields=["is_active"])
    _, fine = stocked(kr=5000)
    for sku in (us_only, retired, "NOPE-1"):
        # when
        with pytest.raises(SkuUnavailable) as caught:
            place(MemberFactory(), kr, items_of((fine, 1), (sku, 1)))
        # then
        assert caught.value.code == "cart.sku_unavailable"
    assert Order.objects.count() == 0 and sku_stock(fine).reserved == 0


def test_more_than_the_purchase_limit_is_refused(kr):
    # given: a product limited to 10 per order
    _, sku = stocked(kr=5000, max_per_order=3)
    # when
    with pytest.raises(PurchaseLimitExceeded) as caught:
        place(MemberFactory(), kr, items_of((sku, 4)))
    # then
    assert caught.value.code == "cart.purchase_limit_exceeded"
    assert Order.objects.count() == 0 and sku_stock(sku).reserved == 0


def test_a_coupon_is_not_found_until_coupons_exist(kr):
    _, sku = stocked(kr=5000)
    with pytest.raises(CouponNotFound):
        services.order_place(
            user=MemberFactory(),
            market=kr,
            idempotency_key=key(),
            items=items_of((sku, 1)),
            coupon_id="WELCOME",
            shipping_address=address_for(kr),
        )
    assert Order.objects.count() == 0 and sku_stock(sku).reserved == 0


def test_insufficient_stock_leaves_nothing_reserved_and_no_order(kr):
    # given: one SKU with plenty, one with 2 units left
    _, plenty = stocked(kr=5000)
    _, scarce = stocked(kr=3000, stock={"KR": 2})
    user = MemberFactory()
    events_before = OutboxEvent.objects.count()
    # when: 3 of the scarce one are asked for with the plentiful one
    with pytest.raises(InsufficientStock) as caught:
        place(user, kr, items_of((plenty, 4), (scarce, 3)))
    # then: all or nothing
    assert caught.value.code == "inventory.insufficient_stock"
    assert Order.objects.count() == 0
    assert Reservation.objects.count() == 0
    assert (sku_stock(plenty).reserved, sku_stock(scarce).reserved) == (0, 0)
    assert OutboxEvent.objects.count() == events_before
    # and the same key works once the request fits
    order = place(user, kr, items_of((plenty, 4), (scarce, 2)))
    assert order.status == "pending" and sku_stock(scarce).reserved == 2


# --- Wallet payment -------------------------------------------------------------------------


def test_a_wallet_payment_debits_commits_the_stock_counts_the_sale_and_emits(kr):
    # given: a pending order of 2 + 1 units and a wallet with 50,000 won
    user = MemberFactory()
    p1, sku1 = stocked(kr=12900)
    p2, sku2 = stocked(kr=3300)
    order = place(user, kr, items_of((sku1, 2), (sku2, 1)))
    funded_wallet(user, kr, 50000)
    # when
    outcome = services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="pay-1")
    # then: 29,100 won debited, one ledger entry, the balance is the ledger sum
    order.refresh_from_db()
    assert outcome.created is True and order.total == 29100
    assert (order.status, outcome.payment.status, outcome.payment.method) == ("paid", "captured", "wallet")
    assert order.paid_at is not None
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 50000 - 29100 == ledger_sum(wallet)
    debit = WalletEntry.objects.get(wallet=wallet, kind="payment")
    assert (debit.amount, outcome.payment.wallet_entry_id) == (-29100, debit.pk)
    # the stock is sold: on hand down, nothing reserved, on hand = the sum of its movements
    for sku, units in ((sku1, 2), (sku2, 1)):
        level = sku_stock(sku)
        assert (level.on_hand, level.reserved) == (50 - units, 0)
        assert movements_sum(level) == level.on_hand
        assert StockMovement.objects.get(stock_level=level, kind="commit").delta == -units
    assert stock_drift() == []
    assert Reservation.objects.filter(owner=order.owner, status="committed").count() == 2
    # the day's sales counters
    assert dict(ProductSalesDaily.objects.filter(market_id="KR").values_list("product_id", "units")) == {
        p1.pk: 2,
        p2.pk: 1,
    }
    # the events, in the same transaction
    paid = _events("order.paid")
    assert [e.aggregate_id for e in paid] == [str(order.public_id)]
    assert paid[0].payload["payment"] == {
        "method": "wallet",
        "amount": 29100,
        "id": str(outcome.payment.public_id),
    }
    assert len(_events("wallet.debited")) == 1
    assert len(_events("inventory.committed")) >= 1
    assert [h.to_status for h in order.status_history.all()] == ["pending", "paid"]


def test_paying_again_with_the_same_key_returns_the_first_payment(kr):
    # given: a paid order
    user = MemberFactory()
    order = place(user, kr)
    funded_wallet(user, kr, 50000)
    first = services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="pay-1")
    # when
    again = services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="pay-1")
    # then: one debit
    assert (again.created, again.payment.pk) == (False, first.payment.pk)
    assert WalletEntry.objects.filter(wallet__user=user, kind="payment").count() == 1
    # and another key is order.not_payable
    with pytest.raises(NotPayable):
        services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="pay-2")
    assert WalletEntry.objects.filter(wallet__user=user, kind="payment").count() == 1


def test_insufficient_balance_changes_nothing_and_the_order_stays_payable(kr):
    # given: an order of 15,900 won and a wallet with 10,000
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    order = place(user, kr, items_of((sku, 1)))
    funded_wallet(user, kr, 10000)
    events_before = OutboxEvent.objects.count()
    # when
    with pytest.raises(InsufficientBalance) as caught:
        services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="pay-1")
    # then: nothing moved
    assert caught.value.code == "wallet.insufficient_balance"
    order.refresh_from_db()
    assert order.status == "pending" and OrderPayment.objects.count() == 0
    assert _balance(user, kr) == 10000 == ledger_sum(Wallet.objects.get(user=user))
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (50, 1)
    assert OutboxEvent.objects.count() == events_before
    # and after a top-up the same order can be paid
    funded_wallet(user, kr, 5900)
    services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="pay-2")
    order.refresh_from_db()
    assert order.status == "paid" and _balance(user, kr) == 0


def test_paying_after_the_hold_expired_re_secures_the_stock_when_it_is_still_there(kr):
    # given: the order's hold ran out, nobody took the units
    user = MemberFactory()
    _, sku = stocked(kr=5000, stock={"KR": 3})
    order = place(user, kr, items_of((sku, 2)))
    funded_wallet(user, kr, 20000)
    _expire_hold(order)
    # when
    _pay(order)
    # then: paid, and the units are sold from the same warehouse
    order.refresh_from_db()
    level = sku_stock(sku)
    assert order.status == "paid"
    assert (level.on_hand, level.reserved, movements_sum(level)) == (1, 0, 1)
    assert _balance(user, kr) == 20000 - order.total
    assert stock_drift() == []


def test_paying_after_the_hold_expired_and_the_units_went_elsewhere_is_refused(kr):
    # given: the hold ran out and another member took the last units
    user = MemberFactory()
    _, sku = stocked(kr=5000, stock={"KR": 2})
    order = place(user, kr, items_of((sku, 2)))
    funded_wallet(user, kr, 20000)
    _expire_hold(order)
    other = place(MemberFactory(), kr, items_of((sku, 2)))
    # when
    with pytest.raises(ReservationExpired) as caught:
        _pay(order)
    # then: nothing charged, nothing sold; the other order's hold is intact
    assert caught.value.code == "inventory.reservation_expired"
    order.refresh_from_db()
    assert order.status == "pending" and OrderPayment.objects.filter(order=order).count() == 0
    assert _balance(user, kr) == 20000 == ledger_sum(Wallet.objects.get(user=user))
    level = sku_stock(sku)
    assert (level.on_hand, level.reserved) == (2, 2)
    assert Reservation.objects.get(owner=other.owner).status == "active"


def test_another_members_order_is_not_found(kr):
    order = place(MemberFactory(), kr)
    intruder = MemberFactory()
    funded_wallet(intruder, kr, 100000)
    with pytest.raises(Exception) as caught:
        services.order_pay_wallet(order_id=str(order.public_id), user=intruder, idempotency_key=key())
    assert getattr(caught.value, "code", None) == "order.not_found"
    assert _balance(intruder, kr) == 100000


# --- Saved method through the sandbox provider ------------------------------------------------


def _pay_method(order: Order, method, idempotency_key: str | None = None) -> services.PaymentOutcome:
    return services.order_pay_method(
        order_id=str(order.public_id),
        user=order.user,
        payment_method_id=str(method.public_id),
        idempotency_key=idempotency_key or key(),
    )


def _applied(sandbox, reference: str) -> int:
    return int(sandbox.stats()["charges_applied"].get(reference, 0))


def test_a_method_payment_charges_the_provider_once_and_pays(sandbox, kr):
    # given
    user = MemberFactory()
    method = method_for(user, kr)
    _, sku = stocked(kr=12900)
    order = place(user, kr, items_of((sku, 1)))
    # when
    outcome = _pay_method(order, method, "pay-1")
    # then
    order.refresh_from_db()
    charge = Charge.objects.get()
    assert (order.status, outcome.payment.status, outcome.payment.method) == (
        "paid",
        "captured",
        "payment_method",
    )
    assert (charge.status, charge.amount, charge.purpose) == ("succeeded", 15900, "order")
    assert _applied(sandbox, str(charge.reference)) == 1
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (49, 0)
    assert WalletEntry.objects.filter(wallet__user=user).count() == 0  # the wallet is not involved
    # and the same key answers the same payment without asking the provider again
    requests = sandbox.stats()["requests"]["charge"]
    again = _pay_method(order, method, "pay-1")
    assert (again.created, again.payment.pk) == (False, outcome.payment.pk)
    assert sandbox.stats()["requests"]["charge"] == requests


def test_a_declined_method_payment_fails_and_the_order_stays_payable(sandbox, kr):
    # given: a card the network declines (insufficient funds)
    user = MemberFactory()
    method = method_for(user, kr, last4="0051")
    _, sku = stocked(kr=12900)
    order = place(user, kr, items_of((sku, 1)))
    # when
    with pytest.raises(PaymentDeclined) as caught:
        _pay_method(order, method)
    # then
    assert caught.value.code == "payment.declined"
    order.refresh_from_db()
    assert order.status == "pending"
    assert OrderPayment.objects.get(order=order).status == "failed"
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (50, 1)
    assert sandbox.stats()["charges_applied"] == {}
    # and another method pays it
    _pay_method(order, method_for(user, kr, last4="4242"))
    order.refresh_from_db()
    assert order.status == "paid"


def test_a_provider_outage_is_provider_unavailable_and_the_order_stays_pending(sandbox, kr):
    # given: the provider answers 503 to charges
    user = MemberFactory()
    method = method_for(user, kr)
    order = place(user, kr)
    sandbox.set_fault("fail", operations=["charge"])
    # when
    with pytest.raises(ProviderUnavailable) as caught:
        _pay_method(order, method)
    # then
    assert caught.value.code == "payment.provider_unavailable"
    order.refresh_from_db()
    assert order.status == "pending"
    assert OrderPayment.objects.get(order=order).status == "failed"
    assert sandbox.stats()["charges_applied"] == {}
    # and once the provider is back, a new attempt pays
    sandbox.set_fault("ok")
    _pay_method(order, method)
    order.refresh_from_db()
    assert order.status == "paid" and sum(sandbox.stats()["charges_applied"].values()) == 1


def test_a_timed_out_charge_leaves_the_payment_pending_and_settles_exactly_once(sandbox, kr, settings):
    # given: the provider applies the charge but answers after the read timeout
    user = MemberFactory()
    method = method_for(user, kr)
    _, sku = stocked(kr=12900)
    order = place(user, kr, items_of((sku, 1)))
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    # when
    outcome = _pay_method(order, method, "pay-1")
    # then: the payment is pending; the order is neither paid nor cancellable yet
    order.refresh_from_db()
    assert (outcome.payment.status, order.status) == ("pending", "pending")
    assert sku_stock(sku).reserved == 1
    with pytest.raises(PaymentPending):
        services.order_cancel(order_id=str(order.public_id), user=user)
    with pytest.raises(PaymentPending):
        services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="pay-2")
    assert services.order_expire(order_id=order.pk, now=clock.now() + dt.timedelta(hours=1)) is False
    # when: the payments settle task asks the provider, then the orders settle task applies it
    sandbox.set_fault("ok")
    later = clock.now() + dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS + 1)
    assert payments.charges_settle_pending(now=later)["succeeded"] == 1
    assert services.order_payments_settle() == {"applied": 1, "errors": 0}
    # then: paid once
    order.refresh_from_db()
    charge = Charge.objects.get()
    assert order.status == "paid" and OrderPayment.objects.get(order=order).status == "captured"
    assert _applied(sandbox, str(charge.reference)) == 1
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (49, 0)
    assert len(_events("order.paid")) == 1
    # and running both again changes nothing
    assert payments.charges_settle_pending(now=later + dt.timedelta(minutes=1))["succeeded"] == 0
    assert services.order_payments_settle() == {"applied": 0, "errors": 0}
    assert len(_events("order.paid")) == 1 and _applied(sandbox, str(charge.reference)) == 1
    assert ProductSalesDaily.objects.get().units == 1


def test_a_funded_wallet_cannot_pay_over_a_pending_method_payment(sandbox, kr):
    # given: a method payment left pending by a timeout, and a wallet that could pay it all
    user = MemberFactory()
    method = method_for(user, kr)
    _, sku = stocked(kr=12900)
    order = place(user, kr, items_of((sku, 1)))
    wallet = funded_wallet(user, kr, 100_000)
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    assert _pay_method(order, method, "pay-1").payment.status == "pending"
    # when: the wallet pays (the partial unique index refuses a second live payment, after
    # the debit: the whole attempt rolls back and the live payment is the answer)
    with pytest.raises(PaymentPending):
        services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key="pay-2")
    # then: nothing was taken, nothing committed, one live payment
    wallet.refresh_from_db()
    order.refresh_from_db()
    assert wallet.balance == 100_000 and not WalletEntry.objects.filter(kind="payment").exists()
    assert order.status == "pending" and sku_stock(sku).reserved == 1
    assert list(OrderPayment.objects.filter(order=order).values_list("status", flat=True)) == ["pending"]


def _timed_out_method_payment(sandbox, user, kr, sku) -> tuple[Order, Charge]:
    method = method_for(user, kr)
    order = place(user, kr, items_of((sku, 1)))
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    _pay_method(order, method)
    sandbox.set_fault("ok")
    return order, Charge.objects.get(payment_method=method)


def test_a_charge_that_succeeds_after_the_order_was_cancelled_is_refunded(sandbox, kr, settings):
    # given: a charge in flight (timed out) while the order ends up cancelled (the services
    # refuse to cancel with a payment in flight, see above: here support closed it by hand)
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    order, _ = _timed_out_method_payment(sandbox, user, kr, sku)
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    # when: the charge settles as succeeded and the order payment is applied
    later = clock.now() + dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS + 1)
    payments.charges_settle_pending(now=later)
    counts = services.order_payments_settle()
    # then: the money goes back through the provider, once; nothing is sold
    assert counts == {"applied": 0, "errors": 1}
    assert sandbox.stats()["refunds_applied"] == {f"order-payment:{OrderPayment.objects.get().public_id}": 1}
    payment = OrderPayment.objects.get()
    assert (payment.status, payment.failure_code) == ("failed", "not_capturable_refunded")
    order.refresh_from_db()
    assert order.status == "cancelled" and order.paid_at is None
    assert sku_stock(sku).on_hand == 50
    assert _events("order.paid") == []
    # and a second settle run refunds nothing more
    services.order_payments_settle()
    assert sum(sandbox.stats()["refunds_applied"].values()) == 1


def test_a_charge_that_succeeds_after_the_hold_expired_and_the_stock_went_is_refunded(sandbox, kr, settings):
    # given: a charge in flight; meanwhile the order's hold ran out and the last unit sold
    user = MemberFactory()
    _, sku = stocked(kr=12900, stock={"KR": 1})
    order, _ = _timed_out_method_payment(sandbox, user, kr, sku)
    _expire_hold(order)
    rival = place(MemberFactory(), kr, items_of((sku, 1)))
    # when
    later = clock.now() + dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS + 1)
    payments.charges_settle_pending(now=later)
    services.order_payments_settle()
    # then: refunded through the provider; the order can no longer be paid but can be cancelled
    assert sum(sandbox.stats()["refunds_applied"].values()) == 1
    order.refresh_from_db()
    assert order.status == "pending"
    assert OrderPayment.objects.get(order=order).status == "failed"
    assert (sku_stock(sku).on_hand, sku_stock(sku).reserved) == (1, 1)
    assert Reservation.objects.get(owner=rival.owner).status == "active"
    assert services.order_expire(order_id=order.pk) is True


def test_a_late_charges_refund_that_fails_is_owed_and_sent_once_by_the_next_settle(sandbox, kr, settings):
    # given: a charge that succeeds after its order was cancelled, while refunds fail
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    order, _ = _timed_out_method_payment(sandbox, user, kr, sku)
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    later = clock.now() + dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS + 1)
    payments.charges_settle_pending(now=later)
    sandbox.set_fault("fail", operations=["refund"])

    # when: the payment is applied (the refund call fails), then settled again with the provider back
    first = services.order_payments_settle()
    owed = OrderPayment.objects.get()
    sandbox.set_fault("ok")
    second = services.order_payments_settle()
    third = services.order_payments_settle()

    # then: the refund stays owed until it goes through, and it goes through once
    assert first == {"applied": 0, "errors": 2}  # the apply, then the owed refund's retry
    assert (owed.status, owed.failure_code) == ("failed", "refund_due")
    assert second == {"applied": 0, "errors": 0, "refunded": 1}
    assert third == {"applied": 0, "errors": 0}
    payment = OrderPayment.objects.get()
    assert payment.failure_code == "not_capturable_refunded"
    assert sandbox.stats()["refunds_applied"] == {f"order-payment:{payment.public_id}": 1}


def test_a_method_payment_retried_with_its_key_after_the_provider_was_down_captures_once(sandbox, kr):
    # given: an order whose method payment met an unreachable provider
    user = MemberFactory()
    _, sku = stocked(kr=12900)
    method = method_for(user, kr)
    order = place(user, kr, items_of((sku, 1)))
    sandbox.set_fault("fail", operations=["charge"])
    with pytest.raises(ProviderUnavailable):
        services.order_pay_method(
            order_id=str(order.public_id),
            user=user,
            payment_method_id=str(method.public_id),
            idempotency_key="p1",
        )
    sandbox.set_fault("ok")

    # when: the member retries with the same key
    outcome = services.order_pay_method(
        order_id=str(order.public_id),
        user=user,
        payment_method_id=str(method.public_id),
        idempotency_key="p1",
    )

    # then: the same payment and charge were sent again and captured once
    order.refresh_from_db()
    assert order.status == "paid"
    assert OrderPayment.objects.filter(order=order).count() == 1
    assert outcome.payment.status == "captured"
    assert Charge.objects.filter(user=user).count() == 1
    assert list(sandbox.stats()["charges_applied"].values()) == [1]
