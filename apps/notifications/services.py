"""E-mail the member about their orders and top-ups, from the outbox (issue 20 item 7).

Why from the outbox: an event row exists exactly when its change committed, so a mail is
never sent for a rolled-back order; and the unique ``event_id`` of ``NotificationDelivery``
is claimed before sending, so no event is ever mailed twice, whatever runs the sweep (beat,
a retry, two workers at once). A worker that dies between the send and the ``sent`` mark
leaves the claim at ``sending``, which is never retried: at most once, on purpose.

Rendered in the member's language with money and times of the order's market, through
Django's e-mail framework (console backend in development, SMTP from the environment).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.core import clock
from apps.core.formatting import format_datetime
from apps.core.models import OutboxEvent
from apps.core.money import Money
from apps.notifications.models import NotificationDelivery
from apps.orders.models import Order

logger = structlog.get_logger("apps.notifications")

ORDER_EVENTS = (
    "order.created",
    "order.paid",
    "order.cancelled",
    "order.refunded",
    "order.partially_refunded",
)
NOTIFIABLE = (*ORDER_EVENTS, "wallet.credited")
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Message:
    user: User
    subject: str
    context: dict[str, Any]


def _order_message(event: OutboxEvent, language: str) -> Message | None:
    order = (
        Order.objects.select_related("user", "market")
        .prefetch_related("lines")
        .filter(public_id=event.payload.get("order_id"))
        .first()
    )
    if order is None:
        return None
    money = order.money
    number = order.number
    refund = event.payload.get("refund") or {}
    texts = {
        "order.created": (
            _("We received your order %(number)s") % {"number": number},
            _("Thank you. Please pay by %(deadline)s, or the order is cancelled and its items released."),
        ),
        "order.paid": (
            _("Payment complete for order %(number)s") % {"number": number},
            _("We received your payment. We will let you know when your order ships."),
        ),
        "order.cancelled": (
            _("Order %(number)s was cancelled") % {"number": number},
            _("Your order was cancelled. Any payment is refunded to where it came from."),
        ),
        "order.refunded": (
            _("Refund complete for order %(number)s") % {"number": number},
            _("We refunded your order. The money goes back to where it came from."),
        ),
        "order.partially_refunded": (
            _("Partial refund for order %(number)s") % {"number": number},
            _("We refunded part of your order. The money goes back to where it came from."),
        ),
    }
    subject, intro = texts[event.type]
    tz = order.market.time_zone
    intro = intro % {"deadline": format_datetime(order.expires_at, language, tz=tz, zone=True)}
    return Message(
        user=order.user,
        subject=subject,
        context={
            "name": order.user.name,
            "headline": subject,
            "intro": intro,
            "number": number,
            "placed_at": format_datetime(order.created_at, language, tz=tz, zone=True),
            "lines": [
                {
                    "name": line.name(language),
                    "quantity": line.quantity,
                    "amount": money(line.line_total).format(language),
                }
                for line in order.lines.all()
            ],
            "total": money(order.total).format(language),
            "refund": money(int(refund["amount"])).format(language) if refund.get("amount") else None,
            "link": f"{settings.SITE_URL}/orders/{order.public_id}/",
        },
    )


def _top_up_message(event: OutboxEvent, language: str) -> Message | None:
    payload = event.payload
    if payload.get("kind") != "top_up":
        return None
    user = User.objects.filter(pk=payload.get("user_id")).first()
    if user is None:
        return None
    amount = Money(int(payload["amount"]), payload["currency"])
    subject = _("Your wallet was topped up with %(amount)s") % {"amount": amount.format(language)}
    return Message(
        user=user,
        subject=subject,
        context={
            "name": user.name,
            "headline": subject,
            "intro": _("Your Joopang wallet now holds %(balance)s.")
            % {"balance": Money(int(payload["balance_after"]), payload["currency"]).format(language)},
            "lines": [],
            "total": None,
            "refund": None,
            "link": f"{settings.SITE_URL}/wallet/",
        },
    )


def _message(event: OutboxEvent, language: str) -> Message | None:
    if event.type in ORDER_EVENTS:
        return _order_message(event, language)
    if event.type == "wallet.credited":
        return _top_up_message(event, language)
    return None


def _recipient(event: OutboxEvent) -> User | None:
    if event.type in ORDER_EVENTS:
        order = Order.objects.filter(public_id=event.payload.get("order_id")).select_related("user").first()
        return order.user if order is not None else None
    return User.objects.filter(pk=event.payload.get("user_id")).first()


def _claim(event: OutboxEvent, user: User | None) -> NotificationDelivery | None:
    """The delivery row of ``event``, claimed for sending now; ``None`` when it is taken
    (sent, being sent, skipped, or failed too often)."""
    now = clock.now()
    try:
        with transaction.atomic():
            return NotificationDelivery.objects.create(
                event_id=event.id,
                event_type=event.type,
                user=user,
                status=NotificationDelivery.Status.SENDING,
                attempts=1,
                created_at=now,
            )
    except IntegrityError:
        pass
    existing = NotificationDelivery.objects.get(event_id=event.id)
    if existing.status != NotificationDelivery.Status.FAILED or existing.attempts >= MAX_ATTEMPTS:
        return None
    taken = NotificationDelivery.objects.filter(
        pk=existing.pk, status=NotificationDelivery.Status.FAILED, attempts=existing.attempts
    ).update(status=NotificationDelivery.Status.SENDING, attempts=existing.attempts + 1)
    if not taken:
        return None
    existing.refresh_from_db()
    return existing


def notification_send(*, event_id: Any) -> str:
    """Mail the member about one outbox event, at most once. Returns the delivery status
    (or ``taken`` when another run has it). Locks: none; the unique event id decides."""
    event = OutboxEvent.objects.filter(pk=event_id, type__in=NOTIFIABLE).first()
    if event is None:
        return "not_notifiable"
    user = _recipient(event)
    delivery = _claim(event, user)
    if delivery is None:
        return "taken"
    status = NotificationDelivery.Status.SKIPPED
    error = ""
    try:
        if user is not None and user.email and user.is_active:
            language = user.locale if user.locale in ("ko", "en") else "en"
            with translation.override(language):
                message = _message(event, language)
                if message is not None:
                    context = {**message.context, "language": language}
                    text = render_to_string("notifications/email/message.txt", context)
                    html = render_to_string("notifications/email/message.html", context)
                    send_mail(
                        message.subject,
                        text,
                        settings.DEFAULT_FROM_EMAIL,
                        [user.email],
                        html_message=html,
                    )
                    status = NotificationDelivery.Status.SENT
    except Exception as exc:  # noqa: BLE001 - a mail server error is retried later
        status, error = NotificationDelivery.Status.FAILED, f"{type(exc).__name__}: {exc}"[:300]
        logger.warning("notifications.send_failed", event_id=str(event.id), type=event.type, error=error)
    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        error=error,
        sent_at=clock.now() if status == NotificationDelivery.Status.SENT else None,
    )
    return status


def notifications_send_due(*, now: dt.datetime | None = None, limit: int = 200) -> dict[str, int]:
    """The sweep (beat, every few seconds): every notifiable event of the last
    ``NOTIFICATIONS_WINDOW_MINUTES`` without a finished delivery, oldest first."""
    now = now or clock.now()
    since = now - dt.timedelta(minutes=settings.NOTIFICATIONS_WINDOW_MINUTES)
    done = NotificationDelivery.objects.filter(
        Q(status__in=[NotificationDelivery.Status.SENT, NotificationDelivery.Status.SENDING])
        | Q(status=NotificationDelivery.Status.SKIPPED)
        | Q(attempts__gte=MAX_ATTEMPTS)
    ).values("event_id")
    due = (
        OutboxEvent.objects.filter(type__in=NOTIFIABLE, occurred_at__gte=since)
        .exclude(id__in=done)
        .order_by("occurred_at")
        .values_list("id", flat=True)[:limit]
    )
    counts: dict[str, int] = {}
    for event_id in list(due):
        status = notification_send(event_id=event_id)
        counts[status] = counts.get(status, 0) + 1
    return counts
