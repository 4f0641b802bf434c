"""Order and top-up e-mails (issue 20 item 7): from the outbox, after commit, in the
member's language, never twice for one event."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core import mail
from django.db import transaction

from apps.core.models import OutboxEvent
from apps.markets.models import Market
from apps.notifications import services as notify
from apps.notifications.models import NotificationDelivery
from apps.orders import services
from apps.payments import services as payments
from tests.carts.factories import stocked
from tests.payments.factories import MemberFactory, funded_wallet, method_for

ADDR = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}
US_ADDR = {
    "recipient": "Emily",
    "line1": "1 Main St",
    "city": "Newark",
    "postal_code": "07102",
    "country": "US",
}


def _paid_order(user, market, *, sku, key="k1", address=ADDR):
    order = services.order_place(
        user=user,
        market=market,
        idempotency_key=key,
        items=[{"sku": sku, "quantity": 2}],
        shipping_address=address,
    ).order
    services.order_pay_wallet(order_id=str(order.public_id), user=user, idempotency_key=f"pay-{key}")
    order.refresh_from_db()
    return order


@pytest.mark.django_db
def test_placed_and_paid_orders_are_mailed_once_in_the_members_language():
    # given a Korean-speaking member who placed and paid an order
    kr = Market.objects.get(code="KR")
    user = MemberFactory(locale="ko", email="minji@example.test", name="김민지")
    _, sku = stocked(kr=12900)
    funded_wallet(user, kr, 100_000)
    order = _paid_order(user, kr, sku=sku)

    # when the sweep runs twice
    first = notify.notifications_send_due()
    second = notify.notifications_send_due()

    # then two mails went out (placed, paid), once each; the funding adjustment is no top-up
    assert first == {"sent": 2, "skipped": 1}
    assert second == {}
    assert [m.to for m in mail.outbox] == [["minji@example.test"], ["minji@example.test"]]
    placed, paid = mail.outbox
    assert order.number in placed.subject and order.number in paid.subject
    assert "₩25,800" in paid.body
    assert "김민지" in paid.body
    assert f"/orders/{order.public_id}/" in paid.body
    html = paid.alternatives[0][0]
    assert 'lang="ko"' in html
    assert NotificationDelivery.objects.filter(status="sent").count() == 2


@pytest.mark.django_db
def test_an_english_member_gets_english_mail_with_dollars():
    us = Market.objects.get(code="US")
    user = MemberFactory(locale="en", market_id="US", email="emily@example.test")
    _, sku = stocked(us=1999)
    funded_wallet(user, us, 10_000)
    _paid_order(user, us, sku=sku, address=US_ADDR)

    notify.notifications_send_due()

    paid = mail.outbox[1]
    assert paid.subject.startswith("Payment complete for order US-")
    assert "Hello" in paid.body
    assert "$" in paid.body


@pytest.mark.django_db
def test_a_top_up_is_mailed(sandbox):
    kr = Market.objects.get(code="KR")
    user = MemberFactory(locale="en", email="topup@example.test")
    method = method_for(user, kr)
    payments.top_up(user=user, market=kr, method_id=method.public_id, amount=30_000, request_key="t1")

    assert notify.notifications_send_due() == {"sent": 1}

    assert mail.outbox[0].subject == "Your wallet was topped up with ₩30,000"
    assert "₩30,000" in mail.outbox[0].body


@pytest.mark.django_db
def test_a_rolled_back_order_is_never_mailed():
    kr = Market.objects.get(code="KR")
    user = MemberFactory()
    _, sku = stocked(kr=5000)

    # given an order whose placement is rolled back after its event was written
    with pytest.raises(RuntimeError), transaction.atomic():
        services.order_place.__wrapped__(  # type: ignore[attr-defined]
            user=user,
            market=kr,
            idempotency_key="rb",
            items=[{"sku": sku, "quantity": 1}],
            shipping_address=ADDR,
        )
        raise RuntimeError("crash before commit")

    # then there is no event, and nothing to send
    assert not OutboxEvent.objects.filter(type="order.created").exists()
    assert notify.notifications_send_due() == {}
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_failed_send_is_retried_and_then_sent_once():
    kr = Market.objects.get(code="KR")
    user = MemberFactory()
    _, sku = stocked(kr=5000)
    services.order_place(
        user=user, market=kr, idempotency_key="f1", items=[{"sku": sku, "quantity": 1}], shipping_address=ADDR
    )

    # given the mail server fails once
    with mock.patch("apps.notifications.services.send_mail", side_effect=OSError("smtp down")):
        assert notify.notifications_send_due() == {"failed": 1}
    delivery = NotificationDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "smtp down" in delivery.error

    # when the sweep runs again with the server back
    assert notify.notifications_send_due() == {"sent": 1}
    assert notify.notifications_send_due() == {}

    # then exactly one mail went out
    assert len(mail.outbox) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)


@pytest.mark.django_db
def test_two_sweeps_racing_on_one_event_send_it_once():
    kr = Market.objects.get(code="KR")
    user = MemberFactory()
    _, sku = stocked(kr=5000)
    order = services.order_place(
        user=user, market=kr, idempotency_key="r1", items=[{"sku": sku, "quantity": 1}], shipping_address=ADDR
    ).order
    event = OutboxEvent.objects.get(type="order.created", aggregate_id=str(order.public_id))

    # when the same event is sent twice (two workers)
    results = [notify.notification_send(event_id=event.id), notify.notification_send(event_id=event.id)]

    # then the second finds it taken
    assert results == ["sent", "taken"]
    assert len(mail.outbox) == 1
