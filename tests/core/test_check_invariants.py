"""``manage.py check_invariants`` (issue 24 item 1): a database filled by a real purchase
flow passes; each invariant, broken on purpose behind the services' back, makes the command
exit 1 and name it. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from apps.core import clock
from apps.core.invariants import collect
from apps.coupons import services as coupons
from apps.coupons.models import Coupon
from apps.orders import services as orders
from apps.orders.models import Order, OrderPayment
from apps.payments.models import Wallet
from tests.coupons.factories import active_campaign
from tests.orders.factories import MemberFactory, paid_order, place, staff

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str]:
    """The command's exit status and output."""
    out = StringIO()
    try:
        call_command("check_invariants", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def breached(*args: str) -> dict[str, dict[str, Any]]:
    status, out = run("--json", *args)
    document = json.loads(out)
    assert status == (1 if document["breaches"] else 0)
    return {b["name"]: b for b in document["breaches"]}


def sql(statement: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.rowcount


def without_check(table: str, constraint: str) -> None:
    """Let the next statements break a CHECK the database would enforce (rolled back with the
    test's transaction): PostgreSQL drops it, SQLite ignores CHECKs for the connection."""
    if connection.vendor == "postgresql":
        sql("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred FK check may be pending at ALTER
        sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"')
        sql("SET CONSTRAINTS ALL DEFERRED")
    else:
        sql("PRAGMA ignore_check_constraints = ON")


@pytest.fixture(autouse=True)
def _checks_on() -> Iterator[None]:
    yield
    if connection.vendor == "sqlite":
        sql("PRAGMA ignore_check_constraints = OFF")


@pytest.fixture
def shop(db: Any) -> dict[str, Any]:
    """A purchase flow through the services: a claimed coupon, a paid order, a fulfilled
    one, one cancelled after payment (stock returned, money refunded), one fulfilled then refunded, one
    left pending."""
    ops = staff("ops_admin")
    marketer = staff("marketing_manager", email="marketer-invariants@staff.test")
    campaign = active_campaign(actor=marketer, total_quantity=10)
    member = MemberFactory()
    coupon = coupons.coupon_claim(campaign_id=campaign.pk, user=member, market=member_market())
    paid = paid_order(member, fund=100_000)
    fulfilled = paid_order()
    orders.order_transition(
        order_id=str(fulfilled.public_id), to_status="fulfilled", actor=ops, reason="shipped", markets=["KR"]
    )
    cancelled = paid_order()
    orders.order_transition(
        order_id=str(cancelled.public_id), to_status="cancelled", actor=ops, reason="asked", markets=["KR"]
    )
    refunded = paid_order()
    orders.order_transition(
        order_id=str(refunded.public_id), to_status="fulfilled", actor=ops, reason="shipped", markets=["KR"]
    )
    orders.order_transition(
        order_id=str(refunded.public_id), to_status="refunded", actor=ops, reason="returned", markets=["KR"]
    )
    pending = place(MemberFactory(), member_market())
    return {
        "campaign": campaign,
        "coupon": coupon,
        "member": member,
        "paid": paid,
        "pending": pending,
        "cancelled": Order.objects.get(pk=cancelled.pk),
        "refunded": Order.objects.get(pk=refunded.pk),
    }


def member_market() -> Any:
    from apps.markets.models import Market

    return Market.objects.get(code="KR")


def test_every_app_contributes_its_invariants() -> None:
    names = {inv.name.split(".")[0] for inv in collect()}
    assert {"core", "inventory", "payments", "coupons", "orders"} <= names


def test_a_real_purchase_flow_passes(shop: dict[str, Any]) -> None:
    assert shop["cancelled"].status == "cancelled" and shop["cancelled"].paid_at is not None
    assert shop["refunded"].status == "refunded"
    assert shop["refunded"].payments.get().status == "refunded"
    status, out = run()
    assert status == 0, out
    total = len(collect())
    assert f"invariants: {total} of {total} hold" in out
    document = json.loads(run("--json")[1])
    assert document["clean"] is True and document["checked"] == total


def test_a_breach_prints_its_count_and_examples(shop: dict[str, Any]) -> None:
    wallet = Wallet.objects.get(user=shop["member"])
    sql("UPDATE payments_wallet SET balance = balance + 500 WHERE id = %s", [wallet.pk])

    status, out = run()

    assert status == 1
    assert "BREACH  payments.wallet_balance_matches_ledger: 1 — " in out
    assert f"e.g. {wallet.pk}" in out


def test_only_narrows_the_check(shop: dict[str, Any]) -> None:
    wallet = Wallet.objects.get(user=shop["member"])
    sql("UPDATE payments_wallet SET balance = balance + 500 WHERE id = %s", [wallet.pk])
    assert run("--only", "inventory.")[0] == 0
    assert run("--only", "payments.")[0] == 1


def _level_of(order: Order) -> int:
    from apps.inventory.models import StockLevel

    line = order.lines.get()
    return StockLevel.objects.get(sku_id=line.sku_id, warehouse__market_id=order.market_id).pk


def break_on_hand(shop: dict[str, Any]) -> str:
    sql("UPDATE inventory_stocklevel SET on_hand = on_hand + 1 WHERE id = %s", [_level_of(shop["paid"])])
    return str(_level_of(shop["paid"]))


def break_reserved(shop: dict[str, Any]) -> str:
    sql("UPDATE inventory_stocklevel SET reserved = reserved + 1 WHERE id = %s", [_level_of(shop["paid"])])
    return str(_level_of(shop["paid"]))


def break_reserved_range(shop: dict[str, Any]) -> str:
    without_check("inventory_stocklevel", "inventory_stocklevel_reserved_range")
    sql("UPDATE inventory_stocklevel SET reserved = on_hand + 1 WHERE id = %s", [_level_of(shop["paid"])])
    return str(_level_of(shop["paid"]))


def break_commit_event(shop: dict[str, Any]) -> str:
    assert (
        sql(
            "DELETE FROM core_outboxevent WHERE type = 'inventory.committed' AND aggregate_id = %s",
            [shop["paid"].owner],
        )
        == 1
    )
    from apps.inventory.models import StockMovement

    return str(StockMovement.objects.get(kind="commit", reference=shop["paid"].owner).pk)


def break_wallet_balance(shop: dict[str, Any]) -> str:
    wallet = Wallet.objects.get(user=shop["member"])
    sql("UPDATE payments_wallet SET balance = balance - 1 WHERE id = %s", [wallet.pk])
    return str(wallet.pk)


def break_wallet_negative(shop: dict[str, Any]) -> str:
    wallet = Wallet.objects.get(user=shop["member"])
    without_check("payments_wallet", "payments_wallet_balance_nonnegative")
    sql("UPDATE payments_wallet SET balance = -1 WHERE id = %s", [wallet.pk])
    return str(wallet.pk)


def break_wallet_event(shop: dict[str, Any]) -> str:
    wallet = Wallet.objects.get(user=shop["member"])
    entry = wallet.entries.filter(kind="payment").get()
    assert (
        sql(
            "DELETE FROM core_outboxevent WHERE type = 'wallet.debited' AND aggregate_id = %s",
            [str(wallet.pk)],
        )
        == 1
    )
    return str(entry.pk)


def break_over_issued(shop: dict[str, Any]) -> str:
    without_check("coupons_campaign", "coupons_campaign_never_over_issued")
    sql("UPDATE coupons_campaign SET issued_count = total_quantity + 1 WHERE id = %s", [shop["campaign"].pk])
    return str(shop["campaign"].pk)


def break_issued_count(shop: dict[str, Any]) -> str:
    sql("UPDATE coupons_campaign SET issued_count = issued_count + 1 WHERE id = %s", [shop["campaign"].pk])
    return str(shop["campaign"].pk)


def break_member_limit(shop: dict[str, Any]) -> str:
    coupon: Coupon = shop["coupon"]
    Coupon.objects.create(  # a second coupon of a one-per-member campaign, past the service
        campaign=coupon.campaign,
        user=coupon.user,
        seq=2,
        uses_left=1,
        expires_at=coupon.expires_at,
        claimed_at=clock.now(),
    )
    return f"{coupon.campaign_id}:{coupon.user_id}"


def break_payment_deleted(shop: dict[str, Any]) -> str:
    assert sql("DELETE FROM orders_orderpayment WHERE order_id = %s", [shop["paid"].pk]) == 1
    return shop["paid"].number


def _captured(order: Order) -> None:
    now = clock.now()
    OrderPayment.objects.create(
        order=order,
        method="manual",
        status="captured",
        amount=order.total,
        currency=order.currency,
        created_at=now,
        captured_at=now,
        updated_at=now,
    )


def break_unpaid_captured(shop: dict[str, Any]) -> str:
    _captured(shop["pending"])
    return shop["pending"].number


def break_stock_not_committed(shop: dict[str, Any]) -> str:
    assert (
        sql("UPDATE inventory_reservation SET status = 'released' WHERE owner = %s", [shop["paid"].owner])
        == 1
    )
    return shop["paid"].number


def break_two_live(shop: dict[str, Any]) -> str:
    sql("DROP INDEX orders_payment_one_live_per_order")  # the partial unique index, rolled back
    _captured(shop["paid"])
    return str(shop["paid"].pk)


def break_order_event(shop: dict[str, Any]) -> str:
    assert (
        sql(
            "DELETE FROM core_outboxevent WHERE type = 'order.paid' AND aggregate_id = %s",
            [str(shop["paid"].public_id)],
        )
        == 1
    )
    return shop["paid"].number


def _refund_of(order: Order) -> Any:
    from apps.orders.models import OrderRefund

    return OrderRefund.objects.get(order=order)


def break_refund_amount(shop: dict[str, Any]) -> str:
    assert (
        sql("UPDATE orders_orderrefund SET amount = amount - 1 WHERE order_id = %s", [shop["cancelled"].pk])
        == 1
    )
    return shop["cancelled"].number


def break_line_refunded(shop: dict[str, Any]) -> str:
    line = shop["refunded"].lines.order_by("position").first()
    sql("UPDATE orders_orderline SET refunded_amount = refunded_amount - 1 WHERE id = %s", [line.pk])
    return shop["refunded"].number


def break_refund_credit(shop: dict[str, Any]) -> str:
    refund = _refund_of(shop["cancelled"])
    assert refund.destination == "wallet" and refund.wallet_entry_id is not None
    sql("UPDATE orders_orderrefund SET wallet_entry_id = NULL WHERE id = %s", [refund.pk])
    return str(refund.pk)


BREAKS = {
    "inventory.on_hand_matches_ledger": break_on_hand,
    "inventory.reserved_matches_reservations": break_reserved,
    "inventory.reserved_within_on_hand": break_reserved_range,
    "inventory.commit_has_event": break_commit_event,
    "payments.wallet_balance_matches_ledger": break_wallet_balance,
    "payments.wallet_balance_nonnegative": break_wallet_negative,
    "payments.entry_has_event": break_wallet_event,
    "coupons.issued_within_quantity": break_over_issued,
    "coupons.issued_count_matches_coupons": break_issued_count,
    "coupons.per_member_limit": break_member_limit,
    "orders.paid_has_one_captured_payment": break_payment_deleted,
    "orders.unpaid_has_no_captured_payment": break_unpaid_captured,
    "orders.paid_stock_committed": break_stock_not_committed,
    "orders.one_live_payment": break_two_live,
    "orders.paid_has_event": break_order_event,
    "orders.refunded_is_its_refunds": break_refund_amount,
    "orders.refunded_is_its_lines": break_line_refunded,
    "orders.wallet_refund_credited": break_refund_credit,
}


def test_every_invariant_has_a_breaking_test() -> None:
    assert set(BREAKS) | {"core.outbox_settled_within_horizon"} == {inv.name for inv in collect()}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_broken_invariant_fails_the_check_and_is_named(shop: dict[str, Any], name: str) -> None:
    assert breached() == {}
    example = BREAKS[name](shop)

    found = breached()

    assert name in found, found
    assert found[name]["count"] >= 1 and example in found[name]["examples"]


def test_an_event_stuck_past_the_retry_horizon_breaches_only_with_a_receiver(
    shop: dict[str, Any], settings: Any
) -> None:
    settings.DATA_PLATFORM_MAX_ATTEMPTS, settings.DATA_PLATFORM_BACKOFF_MAX_SECONDS = 3, 100
    old = clock.now() - dt.timedelta(seconds=301)
    from apps.core.models import OutboxEvent

    event = OutboxEvent.objects.filter(status="pending").order_by("sequence").first()
    assert event is not None
    OutboxEvent.objects.filter(pk=event.pk).update(occurred_at=old)
    name = "core.outbox_settled_within_horizon"

    settings.DATA_PLATFORM_WEBHOOK_URL = ""
    assert name not in breached()  # no receiver: events wait by design

    settings.DATA_PLATFORM_WEBHOOK_URL = "http://127.0.0.1:9/events"
    assert breached()[name]["examples"] == [str(event.sequence)]

    settings.INVARIANTS_OUTBOX_HORIZON_SECONDS = 400  # an operator's longer horizon
    assert name not in breached()
    del settings.INVARIANTS_OUTBOX_HORIZON_SECONDS

    OutboxEvent.objects.filter(pk=event.pk).update(status="failed")  # given up: visible, settled
    assert name not in breached()
