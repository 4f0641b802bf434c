"""Wallet top-ups: charge a saved method through the provider, credit the wallet once.

The flow, and why it is split in three:

1. ``top_up_begin`` (one transaction): check the limits under the wallet's row lock and
   record a ``pending`` Charge with a fresh reference. A request retried with the same
   ``Idempotency-Key`` finds that charge (``request_key``) instead of starting another.
2. The provider call, outside any transaction (no network I/O while holding locks). The
   charge carries our reference, so the provider applies it at most once however often it
   is sent.
3. ``charge_settle`` (one transaction): compare-and-set the charge from ``pending`` under
   its row lock, and on success credit the wallet with the reference ``charge:<uuid>``.
   Whoever settles first (the request, or the beat task asking the provider about a
   charge whose answer timed out) wins; the other is a no-op. Credited once, always.

Outcomes: succeeded -> the ledger entry (201); declined -> ``payment.declined`` (402);
provider unreachable or the breaker open -> ``payment.provider_unavailable`` (503, nothing
charged; a retry with the same key sends the same reference again); answer timed out ->
the charge stays ``pending`` (202) and ``charges_settle_pending`` finishes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from apps.accounts.models import User
from apps.core import clock
from apps.core.errors import IdempotencyKeyReused
from apps.markets.models import Market
from apps.payments import metrics
from apps.payments.errors import (
    MethodMarketMismatch,
    MethodNotFound,
    PaymentDeclined,
    ProviderUnavailable,
    TopUpLimit,
    decline_reason,
)
from apps.payments.models import Charge, PaymentMethod, Wallet, WalletEntry
from apps.payments.providers import (
    ProviderOutcomeUnknown,
    get_provider,
)
from apps.payments.providers import (
    ProviderUnavailable as ProviderDown,
)
from apps.payments.services.ledger import parse_amount, wallet_credit, wallet_get_or_create

logger = structlog.get_logger("apps.payments")

#: Failure codes of a charge we never got an answer for (may be sent again).
UNAVAILABLE = "provider_unavailable"
NOT_FOUND = "not_found"


@dataclass(frozen=True)
class TopUpResult:
    charge: Charge
    #: The credit, when the charge succeeded; ``None`` while it is pending.
    entry: WalletEntry | None
    #: Seconds to wait before retrying, when the provider was unavailable.
    retry_after: int | None = None


def request_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _local_day_start(market: Market, now: dt.datetime) -> dt.datetime:
    local = now.astimezone(ZoneInfo(market.time_zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def _active_method(*, user: User, market: Market, method_id: uuid.UUID | str) -> PaymentMethod:
    method = PaymentMethod.objects.filter(
        user=user, public_id=method_id, status=PaymentMethod.Status.ACTIVE
    ).first()
    if method is None:
        raise MethodNotFound(payment_method=str(method_id))
    if method.market_id != market.code:
        raise MethodMarketMismatch(method_market=method.market_id, market=market.code)
    return method


@transaction.atomic(durable=True)
def top_up_begin(
    *, user: User, market: Market, method: PaymentMethod, amount: int, request_key: str | None
) -> Charge:
    """Record the pending charge of a top-up after checking the market's limits.

    A ``request_key`` already used by this member returns its charge unchanged (a retried
    or taken-over request resumes; nothing new is charged). A charge that failed only
    because the provider was unreachable is reopened to be sent again, same reference.
    Locks: the wallet row (top-ups of one wallet take turns, so two cannot both pass the
    daily limit). Raises: wallet.top_up_limit.
    """
    wallet = wallet_get_or_create(user=user, market=market)
    Wallet.objects.select_for_update().filter(pk=wallet.pk).first()
    now = clock.now()
    key_hash = request_key_hash(request_key) if request_key else None
    if key_hash is not None:
        existing = Charge.objects.select_for_update().filter(user=user, request_key=key_hash).first()
        if existing is not None:
            if existing.amount != amount or existing.payment_method_id != method.pk:
                raise IdempotencyKeyReused()
            if existing.status == Charge.Status.FAILED and existing.failure_code == UNAVAILABLE:
                Charge.objects.filter(pk=existing.pk, status=Charge.Status.FAILED).update(
                    status=Charge.Status.PENDING, failure_code="", updated_at=now
                )
                existing.refresh_from_db()
            return existing
    per_top_up = int(market.wallet_top_up_limit)
    if amount > per_top_up:
        raise TopUpLimit(
            limit=market.money(per_top_up).format(),
            period="per_top_up",
            remaining=market.money(per_top_up).format(),
        )
    daily = int(market.wallet_top_up_daily_limit)
    today = (
        Charge.objects.filter(
            wallet=wallet,
            purpose=Charge.Purpose.TOP_UP,
            created_at__gte=_local_day_start(market, now),
            status__in=[Charge.Status.PENDING, Charge.Status.SUCCEEDED],
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    if today + amount > daily:
        metrics.top_up_outcome("limit")
        params = {
            "limit": market.money(daily).format(),
            "remaining": market.money(max(daily - today, 0)).format(),
        }
        raise TopUpLimit(str(TopUpLimit.daily_message) % params, period="per_day", **params)
    try:
        with transaction.atomic():
            return Charge.objects.create(
                user=user,
                wallet=wallet,
                market=market,
                payment_method=method,
                purpose=Charge.Purpose.TOP_UP,
                amount=amount,
                currency=market.currency,
                request_key=key_hash,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:  # the same key began meanwhile (a takeover race): resume it
        return Charge.objects.get(user=user, request_key=key_hash)


@transaction.atomic(durable=True)
def charge_settle(
    *, charge_id: int, succeeded: bool, provider_charge_id: str = "", failure_code: str = ""
) -> Charge:
    """Apply a charge's outcome exactly once.

    Locks: the wallet row, then the charge row: the order of ``top_up_begin`` (a retry of
    the same key locks the wallet, then its charge), so the two never deadlock. A charge no
    longer pending is returned unchanged: the request and the settle task may both try,
    one wins.
    Emits: wallet.credited (through the ledger) for a successful top-up.
    """
    wallet_id = Charge.objects.filter(pk=charge_id).values_list("wallet_id", flat=True).get()
    if wallet_id is not None:
        Wallet.objects.select_for_update().filter(pk=wallet_id).first()
    charge = Charge.objects.select_for_update(of=("self",)).select_related("wallet").get(pk=charge_id)
    if charge.status != Charge.Status.PENDING:
        return charge
    now = clock.now()
    if succeeded:
        charge.status = Charge.Status.SUCCEEDED
        charge.provider_charge_id = provider_charge_id[:100]
        if charge.purpose == Charge.Purpose.TOP_UP and charge.wallet is not None:
            wallet_credit(
                wallet=charge.wallet,
                amount=charge.amount,
                kind=WalletEntry.Kind.TOP_UP,
                reference=f"charge:{charge.reference}",
                actor=charge.user,
                charge=charge,
            )
    else:
        charge.status = Charge.Status.FAILED
        charge.failure_code = failure_code[:60]
    # A charge the provider never received is not settled: a retry may send it again.
    charge.settled_at = None if failure_code == UNAVAILABLE and not succeeded else now
    charge.updated_at = now
    charge.save(update_fields=["status", "provider_charge_id", "failure_code", "settled_at", "updated_at"])
    metrics.charge_settled(status=charge.status, failure_code=charge.failure_code)
    return charge


def charge_send(charge: Charge) -> TopUpResult:
    """Send a pending charge to the provider and settle what it answers.
    Locks: none while the provider is called."""
    method = charge.payment_method
    Charge.objects.filter(pk=charge.pk).update(attempts=F("attempts") + 1, updated_at=clock.now())
    try:
        result = get_provider().charge(
            token=method.provider_token,
            amount=charge.amount,
            currency=charge.currency,
            reference=str(charge.reference),
        )
    except ProviderOutcomeUnknown:
        _outcome(charge, "pending")
        logger.warning("payments.charge_outcome_unknown", flow="payment", charge=str(charge.reference))
        charge.refresh_from_db()
        return TopUpResult(charge, None)
    except ProviderDown as exc:
        settled = charge_settle(charge_id=charge.pk, succeeded=False, failure_code=UNAVAILABLE)
        _outcome(charge, "unavailable")
        return TopUpResult(settled, None, retry_after=getattr(exc, "retry_after", 5))
    settled = charge_settle(
        charge_id=charge.pk,
        succeeded=result.status == "succeeded",
        provider_charge_id=result.provider_charge_id or "",
        failure_code=result.decline_code or "declined",
    )
    _outcome(charge, settled.status)
    return TopUpResult(settled, _entry_of(settled))


def _outcome(charge: Charge, outcome: str) -> None:
    """The top-up counter counts top-ups only (an order's charge is not one)."""
    if charge.purpose == Charge.Purpose.TOP_UP:
        metrics.top_up_outcome(outcome)


def _entry_of(charge: Charge) -> WalletEntry | None:
    return WalletEntry.objects.filter(charge=charge).select_related("wallet").first()


def top_up(
    *, user: User, market: Market, method_id: uuid.UUID | str, amount: object, request_key: str | None
) -> TopUpResult:
    """A member tops up their wallet in ``market`` from a saved method.

    Not one transaction on purpose (see the module docstring): begin, call, settle.
    Raises: wallet.amount_invalid, payment_method.not_found, payment_method.market_mismatch,
    wallet.top_up_limit, payment.declined, payment.provider_unavailable (with retry_after).
    Emits: wallet.credited.
    """
    value = parse_amount(amount)
    method = _active_method(user=user, market=market, method_id=method_id)
    charge = top_up_begin(user=user, market=market, method=method, amount=value, request_key=request_key)
    if charge.amount != value or charge.payment_method_id != method.pk:
        # The API's idempotency layer refuses this before we get here; a storefront form
        # posted again with its key but another amount or method lands here.
        raise IdempotencyKeyReused()
    if charge.status == Charge.Status.PENDING:
        result = charge_send(charge)
    else:
        result = TopUpResult(charge, _entry_of(charge))
    if result.charge.status == Charge.Status.FAILED:
        if result.charge.failure_code == UNAVAILABLE:
            err = ProviderUnavailable()
            err.headers["Retry-After"] = str(max(1, int(result.retry_after or 5)))
            raise err
        code = result.charge.failure_code
        raise PaymentDeclined(reason=decline_reason(code), decline_code=code)
    return result


def charges_settle_pending(*, now: dt.datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Ask the provider about charges still pending after the settle delay and apply what
    it says (the beat task). A charge the provider never heard of is dropped once it is
    older than ``PAYMENT_CHARGE_DROP_AFTER_SECONDS``: its request can no longer arrive.
    Returns counts by outcome. Locks: each settle locks its charge row only.
    """
    now = now or clock.now()
    due = now - dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS)
    drop_before = now - dt.timedelta(seconds=settings.PAYMENT_CHARGE_DROP_AFTER_SECONDS)
    counts = {"succeeded": 0, "failed": 0, "still_pending": 0, "errors": 0}
    pending = list(
        Charge.objects.filter(status=Charge.Status.PENDING, created_at__lte=due).order_by("created_at", "pk")[
            :limit
        ]
    )
    provider = get_provider()
    for charge in pending:
        try:
            status = provider.status(reference=str(charge.reference))
        except (ProviderDown, ProviderOutcomeUnknown):
            counts["errors"] += 1
            logger.warning("payments.settle_provider_error", flow="payment", charge=str(charge.reference))
            continue
        if status.status == "succeeded":
            settled = charge_settle(
                charge_id=charge.pk, succeeded=True, provider_charge_id=status.provider_charge_id or ""
            )
        elif status.status == "declined" or (
            status.status == "not_found" and charge.created_at <= drop_before
        ):
            failure = status.decline_code or ("declined" if status.status == "declined" else NOT_FOUND)
            settled = charge_settle(charge_id=charge.pk, succeeded=False, failure_code=failure)
        else:
            Charge.objects.filter(pk=charge.pk).update(checked_at=now)
            counts["still_pending"] += 1
            continue
        key = "succeeded" if settled.status == Charge.Status.SUCCEEDED else "failed"
        counts[key] += 1
        logger.info(
            "payments.charge_settled_later",
            flow="payment",
            charge=str(charge.reference),
            status=settled.status,
            failure=settled.failure_code,
        )
    return counts
