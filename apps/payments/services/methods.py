"""Saved payment methods: approved by the provider at registration, kept as its token.

A member gives a kind, a name ("KB국민", "My Visa") and the last four digits; the provider
approves the method and answers an opaque token, which is all we keep. Anything that looks
like a full card or account number, or a security code, is refused before it goes
anywhere: it is never sent to the provider, stored, echoed in an error or logged.
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.db import transaction

from apps.accounts.models import User
from apps.core import clock
from apps.markets.models import Market
from apps.payments import metrics
from apps.payments.errors import (
    CardNumberRefused,
    MethodDeclined,
    MethodInvalid,
    MethodLimit,
    MethodNotFound,
    ProviderUnavailable,
    decline_reason,
)
from apps.payments.models import PaymentMethod
from apps.payments.providers import ProviderError, get_provider

LABEL_MAX_LENGTH = 40
#: Seven or more digits in a row, spaces, dots and dashes between them allowed: no bank or
#: card name has that, and every card number (13-19), account number and most phone-like
#: strings do. A CVC alone (3-4 digits) in a label is caught by the CVC words below.
_DIGIT_RUN = re.compile(r"\d(?:[\s.\-_/]*\d){6,}")
_CVC_WORDS = re.compile(r"\b(cvc|cvv|cvv2|cid|csc|보안\s*코드|security\s*code)\b", re.IGNORECASE)
_LAST4 = re.compile(r"^[0-9]{4}$")


def looks_like_card_data(text: str) -> bool:
    """True when ``text`` holds what may be a card/account number or a security code.
    Deliberately broad: refusing a strange label costs a retyped name; keeping a card
    number costs a breach."""
    return bool(_DIGIT_RUN.search(text) or _CVC_WORDS.search(text))


def method_input_clean(*, kind: object, label: object, last4: object) -> tuple[str, str, str]:
    """The member's input, checked. The card-data check runs first and on every field, so
    a number typed into any of them is refused without being echoed.
    Raises: payment_method.card_number_refused, payment_method.invalid."""
    for value in (kind, label, last4):
        if isinstance(value, str) and looks_like_card_data(value):
            metrics.card_data_refused()
            raise CardNumberRefused()
        if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 7:
            metrics.card_data_refused()
            raise CardNumberRefused()
    if kind not in PaymentMethod.Kind.values or not isinstance(label, str) or not isinstance(last4, str):
        raise MethodInvalid()
    label = " ".join(label.split())
    if not 1 <= len(label) <= LABEL_MAX_LENGTH or not label.isprintable() or not _LAST4.match(last4):
        raise MethodInvalid()
    return str(kind), label, last4


def payment_method_add(
    *, user: User, market: Market, kind: object, label: object, last4: object
) -> PaymentMethod:
    """Register a method: the provider approves it (a network call, outside any
    transaction), then the token is saved.

    Locks: none. Raises: payment_method.card_number_refused, payment_method.invalid,
    payment_method.limit, payment_method.declined, payment.provider_unavailable.
    """
    kind, label, last4 = method_input_clean(kind=kind, label=label, last4=last4)
    limit = int(settings.PAYMENT_METHODS_MAX)
    if PaymentMethod.objects.filter(user=user, status=PaymentMethod.Status.ACTIVE).count() >= limit:
        raise MethodLimit(max=limit)
    provider = get_provider()
    reference = f"method:{uuid.uuid4()}"
    try:
        approval = provider.approve_method(
            kind=kind, label=label, last4=last4, customer_ref=f"user:{user.pk}", reference=reference
        )
    except ProviderError as exc:
        raise ProviderUnavailable() from exc
    if approval.status != "approved" or not approval.token:
        code = approval.decline_code or "declined"
        raise MethodDeclined(reason=decline_reason(code), decline_code=code)
    with transaction.atomic(durable=True):
        return PaymentMethod.objects.create(
            user=user,
            market=market,
            kind=kind,
            label=label,
            last4=last4,
            provider=provider.name,
            provider_token=approval.token,
            created_at=clock.now(),
        )


@transaction.atomic(durable=True)
def payment_method_remove(*, user: User, public_id: uuid.UUID | str) -> PaymentMethod:
    """Take a method off the member's list (kept for the charges that used it).
    Locks: none (compare-and-set on status). Raises: payment_method.not_found."""
    method = PaymentMethod.objects.filter(
        user=user, public_id=public_id, status=PaymentMethod.Status.ACTIVE
    ).first()
    if method is None:
        raise MethodNotFound(payment_method=str(public_id))
    PaymentMethod.objects.filter(pk=method.pk, status=PaymentMethod.Status.ACTIVE).update(
        status=PaymentMethod.Status.REMOVED, removed_at=clock.now()
    )
    method.refresh_from_db()
    return method
