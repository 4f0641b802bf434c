"""Charges for someone else's use-case (an order paid with a saved method): begin a pending
charge, and give money back through the provider. The send and settle steps are shared
with top-ups (``top_ups.charge_send`` / ``charge_settle``), see ADR 0008 §4.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from apps.accounts.models import User
from apps.core import clock
from apps.markets.models import Market
from apps.payments.errors import (
    MethodMarketMismatch,
    MethodNotFound,
    PaymentDeclined,
    ProviderUnavailable,
    decline_reason,
)
from apps.payments.models import Charge, PaymentMethod
from apps.payments.providers import ProviderError, get_provider
from apps.payments.services.top_ups import UNAVAILABLE, request_key_hash


def payment_method_for_charge(*, user: User, market: Market, method_id: uuid.UUID | str) -> PaymentMethod:
    """The member's active method usable in ``market``.
    Raises: payment_method.not_found, payment_method.market_mismatch."""
    method = PaymentMethod.objects.filter(
        user=user, public_id=method_id, status=PaymentMethod.Status.ACTIVE
    ).first()
    if method is None:
        raise MethodNotFound(payment_method=str(method_id))
    if method.market_id != market.code:
        raise MethodMarketMismatch(method_market=method.market_id, market=market.code)
    return method


def charge_begin(
    *, user: User, market: Market, method: PaymentMethod, amount: int, purpose: str, request_key: str
) -> Charge:
    """A pending charge of ``amount`` for ``purpose``, in the caller's transaction. The same
    ``request_key`` (per member) returns the charge it began (a retried request resumes it;
    one the provider never received is reopened to be sent again).
    Locks: none (``UNIQUE (user, request_key)`` decides a race)."""
    key_hash = request_key_hash(request_key)
    existing = Charge.objects.filter(user=user, request_key=key_hash).first()
    if existing is not None:
        if existing.status == Charge.Status.FAILED and existing.failure_code == UNAVAILABLE:
            # The provider never received it: the retry sends it again, same reference.
            Charge.objects.filter(pk=existing.pk, status=Charge.Status.FAILED).update(
                status=Charge.Status.PENDING, failure_code="", updated_at=clock.now()
            )
            existing.refresh_from_db()
        return existing
    now = clock.now()
    try:
        with transaction.atomic():
            return Charge.objects.create(
                user=user,
                market=market,
                payment_method=method,
                purpose=purpose,
                amount=amount,
                currency=market.currency,
                request_key=key_hash,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        return Charge.objects.get(user=user, request_key=key_hash)


def charge_refund(*, charge: Charge, amount: int, reference: str) -> str:
    """Give ``amount`` of a succeeded charge back through the provider; returns the
    provider's refund id. Network I/O: call it outside any transaction. The provider dedupes
    on ``reference``, so calling again after an unknown outcome never refunds twice.
    Raises: payment.provider_unavailable (nothing or maybe refunded: retry with the same
    reference), payment.declined."""
    try:
        result = get_provider().refund(
            provider_charge_id=charge.provider_charge_id,
            amount=amount,
            currency=charge.currency,
            reference=reference,
        )
    except ProviderError as exc:
        raise ProviderUnavailable() from exc
    if result.status != "succeeded":
        raise PaymentDeclined(
            reason=decline_reason(result.decline_code), decline_code=result.decline_code or ""
        )
    return result.provider_refund_id or ""
