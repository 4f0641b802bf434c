"""Orders in the back office (issue 20, item 9) through Django's test client: the list and
the order's page for customer service and ops of their markets, read-only for everyone;
"Change status" offers only the moves the role may take and calls
services.order_transition, whose refusals are shown localized with nothing changed;
inventory and marketing see no orders at all."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.translation import gettext

from apps.core.formatting import format_date
from apps.core.models import OutboxEvent
from apps.markets.models import Market
from apps.orders import services
from apps.orders.errors import ReturnWindowClosed, TransitionNotAllowed
from apps.orders.models import Order, OrderPayment, OrderRefund, OrderStatusChange
from apps.orders.selectors import reason_display
from apps.orders.services.common import EXPIRED, status_label
from apps.payments.models import Wallet
from tests.accounts.factories import MemberFactory, UserFactory, staff
from tests.carts.factories import stocked
from tests.payments.factories import funded_wallet, ledger_sum

pytestmark = pytest.mark.django_db

ORDERS = "/admin/orders/order/"
ADDRESS = {
    "KR": {
        "recipient": "김민지",
        "line1": "세종대로 110",
        "line2": "3층",
        "city": "서울",
        "postal_code": "04524",
        "country": "KR",
    },
    "US": {
        "recipient": "Jane Doe",
        "line1": "350 Fifth Avenue",
        "city": "New York",
        "region": "NY",
        "postal_code": "10118",
        "country": "US",
    },
}


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.content.decode())


def _ko(error: Exception) -> str:
    with translation.override("ko"):
        return str(error.detail)  # type: ignore[attr-defined]


def _order(
    user=None, market: str = "KR", *, price: int = 12_900, quantity: int = 2, pay: bool = True
) -> Order:  # type: ignore[no-untyped-def]
    """An order placed through the services (and paid from a funded wallet)."""
    user = user or MemberFactory(market_id=market)
    where = Market.objects.get(code=market)
    _, sku = stocked(kr=price, us=price)
    placed = services.order_place(
        user=user,
        market=where,
        idempotency_key=f"admin-test-{Order.objects.count()}",
        items=[{"sku": sku, "quantity": quantity}],
        shipping_address=dict(ADDRESS[market]),
    )
    order = placed.order
    if pay:
        funded_wallet(user, where, 1_000_000)
        services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key=f"pay-{order.pk}")
    order.refresh_from_db()
    return order


def _fulfilled(market: str = "KR", **kwargs: Any) -> Order:
    order = _order(market=market, **kwargs)
    services.order_transition(
        order_id=str(order.public_id),
        to_status="fulfilled",
        actor=staff("ops_admin", email="shipper@staff.test"),
        reason="Shipped",
        markets=[market],
    )
    order.refresh_from_db()
    return order


def _snapshot(order: Order) -> tuple[Any, ...]:
    """Everything a transition could touch."""
    order.refresh_from_db()
    wallet = Wallet.objects.filter(user=order.user, market=order.market).first()
    return (
        order.status,
        order.refunded_amount,
        OrderStatusChange.objects.filter(order=order).count(),
        OrderPayment.objects.filter(order=order).count(),
        OrderRefund.objects.filter(order=order).count(),
        OutboxEvent.objects.filter(aggregate_type="order", aggregate_id=str(order.public_id)).count(),
        wallet.balance if wallet else None,
    )


def _offered(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [value for value, _label in response.context["form"].fields["to_status"].choices]


def _move(client, order: Order, to_status: str, reason: str = "Customer called"):  # type: ignore[no-untyped-def]
    return client.post(f"{ORDERS}{order.pk}/change-status/", {"to_status": to_status, "reason": reason})


# --- The list ---------------------------------------------------------------------------
def test_list_shows_number_member_status_total_and_market_times_and_searches_number_and_email(client):
    jisoo = MemberFactory(email="jisoo@example.test", name="박지수")
    paid = _order(jisoo, quantity=4)
    other = _order(MemberFactory(email="minho@example.test"), pay=False)
    Order.objects.filter(pk=paid.pk).update(
        created_at=dt.datetime(2026, 11, 30, 2, 56, tzinfo=dt.UTC),
        paid_at=dt.datetime(2026, 11, 30, 3, 1, tzinfo=dt.UTC),
    )
    client.force_login(staff("cs_agent", market="KR"))

    page = _text(client.get(ORDERS))
    by_number = client.get(ORDERS, {"q": paid.number})
    by_email = client.get(ORDERS, {"q": "minho@example.test"})
    by_unknown = client.get(ORDERS, {"q": "nobody@example.test"})

    assert paid.number in page and other.number in page
    assert "박지수 · jisoo@example.test" in page
    assert "₩51,600" in page  # 4 × ₩12,900
    assert "오전 11:56 KST" in page and "오후 12:01 KST" in page  # placed and paid, Seoul time
    assert "결제 완료" in page or "Paid" in page  # the status badge
    assert [o.pk for o in by_number.context["cl"].result_list] == [paid.pk]
    assert [o.pk for o in by_email.context["cl"].result_list] == [other.pk]
    assert list(by_unknown.context["cl"].result_list) == []


def test_list_filters_by_status_market_and_placed_day(client):
    kr_paid = _order()
    kr_pending = _order(pay=False)
    us_paid = _order(market="US", price=999)
    # 00:30 on 29 November in Seoul (the 28th in UTC), and 23:30 on the 28th in Seoul
    Order.objects.filter(pk=kr_pending.pk).update(created_at=dt.datetime(2026, 11, 28, 15, 30, tzinfo=dt.UTC))
    Order.objects.filter(pk=kr_paid.pk).update(created_at=dt.datetime(2026, 11, 28, 14, 30, tzinfo=dt.UTC))
    client.force_login(staff("ops_admin"))

    pending = client.get(ORDERS, {"status__exact": "pending"})
    us = client.get(ORDERS, {"market__code__exact": "US"})
    # the market's calendar decides, both days included
    on_the_29th = client.get(ORDERS, {"created_at_from": "2026-11-29", "created_at_to": "2026-11-29"})
    on_the_28th = client.get(ORDERS, {"created_at_to": "2026-11-28"})

    assert [o.pk for o in pending.context["cl"].result_list] == [kr_pending.pk]
    assert [o.pk for o in us.context["cl"].result_list] == [us_paid.pk]
    assert "US$27.57" in _text(us)  # 2 × $9.99, $1.60 sales tax, $5.99 shipping
    assert [o.pk for o in on_the_29th.context["cl"].result_list] == [kr_pending.pk]
    assert [o.pk for o in on_the_28th.context["cl"].result_list] == [kr_paid.pk]


#: Queries per list page: session, user, the staff member's market scope, two permission
#: lookups, the market filter's choices, the page's count and its rows (member joined in).
LIST_QUERIES = 8


def test_list_queries_are_pinned_and_do_not_grow_with_the_rows(client):
    cs = staff("cs_agent", market="KR")

    def queries() -> int:
        client.force_login(cs)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(ORDERS).status_code == 200
        return len(captured)

    _order()
    queries()  # warm the per-process market cache
    few = queries()
    for _ in range(4):
        _order(pay=False)

    assert (few, queries()) == (LIST_QUERIES, LIST_QUERIES)


#: The order's page: session, user, market scope, the order (member and market joined),
#: its lines, payments (method joined), refunds, history (actors joined), outbox events,
#: two permission lookups.
DETAIL_QUERIES = 11


def test_order_page_queries_are_pinned_and_do_not_grow_with_its_rows(client):
    ops = staff("ops_admin", market="KR")
    small = _order(quantity=1)
    big = _fulfilled(quantity=3)
    services.order_refund(
        order_id=str(big.public_id),
        user=big.user,
        reason="Broken",
        idempotency_key="r1",
        lines=[{"line": 1, "quantity": 1}],
    )

    def queries(order: Order) -> int:
        client.force_login(ops)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"{ORDERS}{order.pk}/change/").status_code == 200
        return len(captured)

    queries(small)

    assert (queries(small), queries(big)) == (DETAIL_QUERIES, DETAIL_QUERIES)


# --- The order's page ---------------------------------------------------------------------
def test_order_page_shows_lines_payments_refunds_history_events_and_address(client):
    order = _fulfilled(quantity=3)
    refund = services.order_refund(
        order_id=str(order.public_id),
        user=order.user,
        reason="Arrived broken",
        idempotency_key="r1",
        lines=[{"line": 1, "quantity": 1}],
    )
    line = order.lines.get()
    client.force_login(staff("cs_agent", market="KR"))

    response = client.get(f"{ORDERS}{order.pk}/change/")
    page = _text(response)

    assert response.status_code == 200
    assert order.number in page
    assert [row["name"] for row in response.context["order_lines"]] == [line.name_ko]
    assert response.context["order_lines"][0]["quantity"] == 3
    assert response.context["order_lines"][0]["unit_price"] == "₩12,900"
    assert response.context["order_lines"][0]["refunded_quantity"] == 1
    assert response.context["order_lines"][0]["refunded_amount"] == f"₩{refund.amount:,}"
    assert [p["amount"] for p in response.context["order_payments"]] == [f"₩{order.total:,}"]
    assert [(r["amount"], r["reason"], r["lines"]) for r in response.context["order_refunds"]] == [
        (f"₩{refund.amount:,}", "Arrived broken", "#1 × 1")
    ]
    history = response.context["order_history"]
    with translation.override("ko"):
        labels = [str(Order.Status(s).label) for s in ("pending", "paid", "fulfilled")]
    # placed, paid, fulfilled (a partial refund keeps the status)
    assert [(h["from"], h["to"]) for h in history] == [
        ("", labels[0]),
        (labels[0], labels[1]),
        (labels[1], labels[2]),
    ]
    assert (history[-1]["by"], history[-1]["reason"]) == ("shipper@staff.test", "Shipped")
    assert history[0]["by"] == order.user.email
    types = [e["type"] for e in response.context["order_events"]]
    assert types[:3] == ["order.created", "order.paid", "order.fulfilled"]
    assert "order.partially_refunded" in types
    assert "reason: Shipped" in response.context["order_events"][2]["summary"]
    assert response.context["order_address"] == ["김민지", "세종대로 110 3층", "서울 04524", "KR"]
    assert 'name="_save"' not in page
    assert "('fulfilled'" not in page  # the status is a badge, not a Python tuple


def test_a_system_reason_is_shown_through_reason_display_in_the_history(client):
    order = _order(pay=False)
    assert services.order_expire(order_id=order.pk, now=order.expires_at + dt.timedelta(seconds=1))
    client.force_login(staff("ops_admin"))

    response = client.get(f"{ORDERS}{order.pk}/change/")

    last = response.context["order_history"][-1]
    with translation.override("ko"):
        expected = (reason_display(EXPIRED), gettext("system"), str(Order.Status.CANCELLED.label))
    assert (last["reason"], last["by"], last["to"]) == expected
    assert OrderStatusChange.objects.get(order=order, to_status="cancelled").reason == EXPIRED


# --- Change status ------------------------------------------------------------------------
def test_cs_fulfils_a_paid_order_through_the_form_with_actor_and_reason(client):
    order = _order()
    cs = staff("cs_agent", market="KR")
    client.force_login(cs)

    detail = _text(client.get(f"{ORDERS}{order.pk}/change/"))
    form = client.get(f"{ORDERS}{order.pk}/change-status/")
    response = _move(client, order, "fulfilled", "  Handed to the courier  ")

    assert f"{ORDERS}{order.pk}/change-status/" in detail
    assert sorted(_offered(form)) == ["cancelled", "fulfilled"]
    assert response.status_code == 302
    assert response["Location"] == f"{ORDERS}{order.pk}/change/"
    order.refresh_from_db()
    assert order.status == "fulfilled"
    change = OrderStatusChange.objects.filter(order=order).latest("created_at", "pk")
    assert (change.from_status, change.to_status, change.actor, change.actor_kind, change.reason) == (
        "paid",
        "fulfilled",
        cs,
        "staff",
        "Handed to the courier",
    )
    assert OutboxEvent.objects.filter(aggregate_id=str(order.public_id), type="order.fulfilled").count() == 1
    shown = _text(client.get(response["Location"]))
    assert order.number in shown and "Handed to the courier" in shown


def test_cs_is_not_offered_pending_to_paid_and_posting_it_anyway_is_refused(client):
    order = _order(pay=False)
    client.force_login(staff("cs_agent", market="KR"))
    before = _snapshot(order)

    form = client.get(f"{ORDERS}{order.pk}/change-status/")
    response = _move(client, order, "paid", "Paid by bank transfer")

    assert _offered(form) == ["cancelled"]
    assert response.status_code == 200
    with translation.override("ko"):
        expected = str(TransitionNotAllowed(to_status=status_label("paid")).detail)
    assert response.context["form"].non_field_errors() == [expected]
    assert expected in _text(response)
    assert _snapshot(order) == before


def test_ops_may_record_a_manual_payment_pending_to_paid(client):
    order = _order(pay=False)
    ops = staff("ops_admin")
    client.force_login(ops)

    form = client.get(f"{ORDERS}{order.pk}/change-status/")
    response = _move(client, order, "paid", "Paid by bank transfer, ref 2211")

    assert sorted(_offered(form)) == ["cancelled", "paid"]
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_at is not None
    payment = OrderPayment.objects.get(order=order)
    assert (payment.method, payment.status, payment.amount) == ("manual", "captured", order.total)
    change = OrderStatusChange.objects.filter(order=order).latest("created_at", "pk")
    assert (change.to_status, change.actor, change.reason) == ("paid", ops, "Paid by bank transfer, ref 2211")


def test_a_refund_outside_the_return_window_is_refused_for_cs_and_allowed_for_ops(client):
    order = _fulfilled()
    days = order.market.return_window_days
    fulfilled = dt.datetime(2026, 11, 1, 3, 0, tzinfo=dt.UTC)  # noon in Seoul; today is 30 November
    Order.objects.filter(pk=order.pk).update(fulfilled_at=fulfilled)
    wallet = Wallet.objects.get(user=order.user, market=order.market)
    before = _snapshot(order)

    client.force_login(staff("cs_agent", market="KR"))
    offered = _offered(client.get(f"{ORDERS}{order.pk}/change-status/"))
    refused = _move(client, order, "refunded", "Late return")
    after_cs = _snapshot(order)
    ops = staff("ops_admin")
    client.force_login(ops)
    allowed = _move(client, order, "refunded", "Late return approved by the lead")

    assert offered == ["refunded"]
    assert refused.status_code == 200
    with translation.override("ko"):
        closed_on = format_date((fulfilled + dt.timedelta(days=days)).date())
        expected = str(ReturnWindowClosed(order=order.number, closed_on=closed_on).detail)
    assert refused.context["form"].non_field_errors() == [expected]
    assert expected in _text(refused)
    assert after_cs == before
    assert allowed.status_code == 302
    order.refresh_from_db()
    wallet.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", order.total)
    assert wallet.balance == before[-1] + order.total == ledger_sum(wallet)
    refund = OrderRefund.objects.get(order=order)
    assert (refund.amount, refund.actor, refund.reason) == (
        order.total,
        ops,
        "Late return approved by the lead",
    )


def test_a_reason_is_required_and_nothing_changes_without_one(client):
    order = _order()
    client.force_login(staff("cs_agent"))
    before = _snapshot(order)

    response = _move(client, order, "fulfilled", "   ")

    assert response.status_code == 200
    assert response.context["form"].has_error("reason", "required")
    assert _snapshot(order) == before


def test_an_unknown_status_is_a_form_error_and_nothing_changes(client):
    order = _order()
    client.force_login(staff("ops_admin"))
    before = _snapshot(order)

    response = _move(client, order, "shipped", "typo")

    assert response.status_code == 200
    assert response.context["form"].has_error("to_status", "invalid_choice")
    assert _snapshot(order) == before


def test_an_illegal_move_is_refused_by_the_service_and_nothing_changes(client):
    order = _order()
    client.force_login(staff("ops_admin"))
    before = _snapshot(order)

    response = _move(client, order, "refunded", "skip fulfilment")

    assert response.status_code == 200
    assert "order-transition-errors" in _text(response)
    assert order.number in response.context["form"].non_field_errors()[0]
    assert _snapshot(order) == before


def test_a_finished_order_offers_no_move_and_no_button(client):
    order = _order(pay=False)
    services.order_cancel(order_id=str(order.public_id), user=order.user, reason="Changed my mind")
    client.force_login(staff("ops_admin"))

    detail = _text(client.get(f"{ORDERS}{order.pk}/change/"))
    form = client.get(f"{ORDERS}{order.pk}/change-status/")

    assert f"{ORDERS}{order.pk}/change-status/" not in detail
    assert _offered(form) == []
    assert 'id="order-transition-none"' in _text(form)


# --- Who may see and act ------------------------------------------------------------------
def _every_url(order: Order) -> list[str]:
    return [
        ORDERS,
        f"{ORDERS}{order.pk}/change/",
        f"{ORDERS}{order.pk}/change-status/",
        f"{ORDERS}{order.pk}/history/",
        f"{ORDERS}{order.pk}/delete/",
        f"{ORDERS}add/",
    ]


@pytest.mark.parametrize("role", ["inventory_manager", "marketing_manager"])
def test_inventory_and_marketing_get_403_on_every_order_page_and_no_sidebar_item(client, role):
    order = _order()
    urls = _every_url(order)
    client.force_login(staff(role))
    before = _snapshot(order)

    home = _text(client.get("/admin/"))
    statuses = {url: client.get(url).status_code for url in urls}
    posted = _move(client, order, "fulfilled")

    assert statuses == dict.fromkeys(urls, 403)
    assert posted.status_code == 403
    assert "/admin/orders/" not in home
    assert _snapshot(order) == before


@pytest.mark.parametrize("role", ["cs_agent", "ops_admin"])
def test_cs_and_ops_find_orders_in_the_sidebar(client, role):
    client.force_login(staff(role))

    home = _text(client.get("/admin/"))
    nav = home.split('id="nav-sidebar-apps"', 1)[1].split("</nav>", 1)[0]

    assert set(re.findall(r'href="(/admin/orders/[^"]*)"', nav)) == {ORDERS}
    assert client.get(ORDERS).status_code == 200


def test_a_kr_scoped_agent_sees_kr_orders_only_and_cannot_open_or_move_a_us_order(client):
    kr_order = _order()
    us_order = _order(market="US", price=999)
    client.force_login(staff("cs_agent", market="KR"))
    before = _snapshot(us_order)

    listing = client.get(ORDERS)
    searched = client.get(ORDERS, {"q": us_order.number})
    refused = {
        url: client.get(url).status_code
        for url in (f"{ORDERS}{us_order.pk}/change/", f"{ORDERS}{us_order.pk}/change-status/")
    }
    posted = _move(client, us_order, "fulfilled")

    assert [o.pk for o in listing.context["cl"].result_list] == [kr_order.pk]
    assert list(searched.context["cl"].result_list) == []
    assert set(refused.values()) == {404}
    assert posted.status_code == 404
    assert _snapshot(us_order) == before


def test_nobody_adds_changes_or_deletes_orders_through_the_admin(client):
    order = _order()
    ops = staff("ops_admin")
    root = UserFactory(email="root@staff.test", is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[Order]
    before = _snapshot(order)

    for user in (ops, root):
        client.force_login(user)
        request = type("R", (), {"user": user, "method": "GET"})()
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, order)
        assert not model_admin.has_delete_permission(request, order)
        assert client.get(f"{ORDERS}add/").status_code == 403
        assert client.post(f"{ORDERS}{order.pk}/delete/", {"post": "yes"}).status_code == 403
        changed = client.post(f"{ORDERS}{order.pk}/change/", {"status": "refunded", "total": "1"})
        assert changed.status_code == 403
        page = _text(client.get(f"{ORDERS}{order.pk}/change/"))
        assert 'name="_save"' not in page and f"{ORDERS}{order.pk}/delete/" not in page

    assert _snapshot(order) == before
    # lines, payments, refunds and history have no admin screen at all
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert {"orders.orderline", "orders.orderpayment", "orders.orderrefund", "orders.orderstatuschange"} & (
        registered
    ) == set()
