"""Claiming a coupon: first come, first served, never one too many (DESIGN.md §7).

Order of checks, cheapest first: the campaign's rules from a short-lived cache (status,
window, market — no database), the Redis gate (sold out, duplicate — no database), then one
transaction: the conditional increment of ``issued_count`` and the coupon row with its
per-member ``seq`` (unique). The transaction is the truth; the gate only keeps the losers
away from the campaign's row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import structlog
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce

from apps.accounts.models import User
from apps.accounts.principal import TokenPrincipal
from apps.accounts.selectors import shopper_get
from apps.core import clock
from apps.core.compiled import insert_unless_taken
from apps.core.errors import PermissionDenied
from apps.core.formatting import format_datetime
from apps.core.outbox import outbox_event, publish_event
from apps.coupons import metrics
from apps.coupons.errors import (
    AlreadyClaimed,
    CampaignInactive,
    CampaignNotFound,
    MarketMismatch,
    NotStarted,
    SoldOut,
)
from apps.coupons.models import Campaign, Coupon
from apps.coupons.services import gate
from apps.markets.models import Market

logger = structlog.get_logger("apps.coupons")

RULES_TTL_SECONDS = 5
#: This process's own copy of a campaign's rules lives this long (saves the cache round trip
#: and unpickle per claim; a flash sale asks thousands of times a second). An edit clears
#: it in the editing process at once and elsewhere within this bound (on top of the shared
#: cache's RULES_TTL_SECONDS, which already allowed that much).
RULES_LOCAL_SECONDS = 1.0
_local_rules: dict[int, tuple[float, Rules]] = {}


@dataclass(frozen=True)
class Rules:
    """What a claim checks before touching the database (cached for a few seconds)."""

    id: int
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    markets: frozenset[str]
    per_user_limit: int
    limited: bool


def _rules_key(campaign_id: int) -> str:
    return f"coupons:rules:{campaign_id}"


def campaign_rules(campaign_id: int) -> Rules:
    """The campaign's claim rules, from this process's copy, the cache or the database.
    Raises: campaign_not_found."""
    local = _local_rules.get(campaign_id)
    if local is not None and local[0] > time.monotonic():
        return local[1]
    rules = _campaign_rules_shared(campaign_id)
    _local_rules[campaign_id] = (time.monotonic() + RULES_LOCAL_SECONDS, rules)
    return rules


def campaign_rules_forget_local() -> None:
    """Drop this process's copies of every campaign's rules (tests; the cache is separate)."""
    _local_rules.clear()


def _campaign_rules_shared(campaign_id: int) -> Rules:
    try:
        cached = cache.get(_rules_key(campaign_id))
    except Exception:  # noqa: BLE001 - Redis down: the database answers
        logger.warning("coupons.rules_cache_unavailable", campaign_id=campaign_id)
        cached = None
    if cached is not None:
        return Rules(**{**cached, "markets": frozenset(cached["markets"])})
    campaign = Campaign.objects.filter(pk=campaign_id).prefetch_related("markets").first()
    if campaign is None:
        raise CampaignNotFound(campaign=str(campaign_id))
    rules = Rules(
        id=campaign.pk,
        status=campaign.status,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        markets=frozenset(m.code for m in campaign.markets.all()),
        per_user_limit=campaign.per_user_limit,
        limited=campaign.total_quantity is not None,
    )
    try:
        cache.set(
            _rules_key(campaign_id),
            {**rules.__dict__, "markets": sorted(rules.markets)},
            timeout=RULES_TTL_SECONDS,
        )
    except Exception:  # noqa: BLE001
        logger.warning("coupons.rules_cache_unavailable", campaign_id=campaign_id)
    return rules


def campaign_rules_forget(campaign_id: int) -> None:
    """After an edit: the next claim reads the campaign again (and re-primes the gate)."""
    _local_rules.pop(campaign_id, None)
    try:
        cache.delete(_rules_key(campaign_id))
    except Exception:  # noqa: BLE001 - the rules expire within RULES_TTL_SECONDS anyway
        logger.warning("coupons.rules_cache_unavailable", campaign_id=campaign_id)
    gate.forget(campaign_id=campaign_id)


def _check(rules: Rules, market: Market, now: dt.datetime) -> None:
    if rules.status != Campaign.Status.ACTIVE or now >= rules.ends_at:
        raise CampaignInactive()
    if now < rules.starts_at:
        raise NotStarted(starts_at=format_datetime(rules.starts_at, tz=market.time_zone, zone=True))
    if market.code not in rules.markets:
        raise MarketMismatch(market=market.code)


def _key_hash(key: str | None) -> str | None:
    return hashlib.sha256(key.encode()).hexdigest() if key else None


def _member_claims(user_id: int) -> Subquery:
    """How many of the outer campaign's coupons the member holds (read with the campaign,
    one statement)."""
    return Subquery(
        Coupon.objects.filter(campaign_id=OuterRef("pk"), user_id=user_id)
        .order_by()
        .values("campaign_id")
        .annotate(n=Count("pk"))
        .values("n")
    )


@transaction.atomic(durable=True)
def _claim_in_database(*, campaign_id: int, user: User, key_hash: str | None, now: dt.datetime) -> Coupon:
    """Locks: the campaign row, by its conditional UPDATE, until commit. Every claim that
    issues takes its turn there, so what follows the UPDATE is kept to the round trips that
    must: the coupon's INSERT (one statement, no savepoint), the event, the commit
    (``docs/scaling.md`` §5: the time the row is held caps a campaign's claims per second).
    The checks before it read without a lock: the counter and a member's coupons only grow,
    so a campaign read sold out (until an edit raises its total) or a member read at the
    limit is refused as the UPDATE or the INSERT would have refused it."""
    campaign = Campaign.objects.annotate(have=Coalesce(_member_claims(user.pk), 0)).get(pk=campaign_id)
    if campaign.status != Campaign.Status.ACTIVE or now >= campaign.ends_at:
        raise CampaignInactive()
    if now < campaign.starts_at:
        raise NotStarted(starts_at=campaign.starts_at.isoformat())
    have = int(campaign.have)  # type: ignore[attr-defined]
    if have >= campaign.per_user_limit:
        raise AlreadyClaimed(limit=campaign.per_user_limit)
    total = campaign.total_quantity
    if total is not None and campaign.issued_count >= total:
        raise SoldOut()  # no wait for the row to say what it already said
    expires_at = campaign.ends_at
    if campaign.valid_days:
        expires_at = min(expires_at, now + dt.timedelta(days=campaign.valid_days))
    # The coupon and its event are built before the row is locked; only their INSERTs follow it.
    coupon = Coupon(
        campaign=campaign,
        user=user,
        seq=have + 1,
        uses_left=campaign.uses_per_coupon,
        expires_at=expires_at,
        idempotency_key=key_hash,
        claimed_at=now,
    )
    event = outbox_event(
        type="coupon.issued",
        aggregate_type="coupon_campaign",
        aggregate_id=campaign.pk,
        market=None,
        payload={
            "coupon_id": str(coupon.public_id),
            "campaign_id": campaign.pk,
            "user_id": user.pk,
            "seq": coupon.seq,
            "expires_at": expires_at,
        },
    )
    issued = Campaign.objects.filter(pk=campaign_id)
    if total is not None:
        # Invariant: issued_count <= total_quantity (CHECK too). The one line that decides.
        issued = issued.filter(issued_count__lt=F("total_quantity"))
    if not issued.update(issued_count=F("issued_count") + 1, updated_at=now):
        raise SoldOut()
    while not insert_unless_taken(coupon):
        # The same member claimed at the same moment and took this seq: try the next one
        # while under the limit. At the limit the whole transaction (the increment
        # included) rolls back with this error.
        coupon.seq += 1
        if coupon.seq > campaign.per_user_limit:
            raise AlreadyClaimed(limit=campaign.per_user_limit)
        event.payload["seq"] = coupon.seq
    publish_event(event)
    if total is not None and campaign.issued_count + 1 >= total:
        transaction.on_commit(lambda: metrics.exhausted(campaign_id=campaign_id))
    return coupon


def _prime_gate(campaign_id: int) -> None:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return
    claims = dict(
        Coupon.objects.filter(campaign_id=campaign_id)
        .values("user_id")
        .annotate(n=Count("pk"))
        .values_list("user_id", "n")
    )
    remaining = campaign.remaining if campaign.remaining is not None else 0
    gate.prime(campaign_id=campaign_id, remaining=remaining, claims=claims, ends_at=campaign.ends_at)


def coupon_claim(
    *, campaign_id: int, user: User | TokenPrincipal, market: Market, idempotency_key: str | None = None
) -> Coupon:
    """Issue one coupon of a campaign to a member, first come, first served.

    ``user`` may be a :class:`TokenPrincipal` (the claim API): then a refusal by the rules or
    the gate costs no query at all, and the account is read (active, may shop) only when a
    claim goes on to the database.
    The same ``idempotency_key`` returns the coupon it claimed.
    Locks: the campaign row by one conditional UPDATE (only claims that issue get there).
    Raises: coupon.campaign_not_found, coupon.campaign_inactive, coupon.not_started,
    coupon.market_mismatch, coupon.sold_out, coupon.already_claimed, auth.permission_denied
    (a principal whose account may no longer shop).
    Emits: coupon.issued (outbox, same transaction).
    """
    key_hash = _key_hash(idempotency_key)
    if key_hash is not None:
        earlier = Coupon.objects.filter(
            user_id=user.pk, idempotency_key=key_hash, campaign_id=campaign_id
        ).first()
        if earlier is not None:
            return earlier
    now = clock.now()
    rules = campaign_rules(campaign_id)
    try:
        _check(rules, market, now)
    except Exception as exc:
        metrics.claim_rejected(campaign_id=campaign_id, reason=getattr(exc, "code", "error"))
        raise
    answer = gate.claim(
        campaign_id=campaign_id, user_id=user.pk, per_user_limit=rules.per_user_limit, limited=rules.limited
    )
    if answer == gate.SOLD_OUT:
        metrics.claim_rejected(campaign_id=campaign_id, reason=SoldOut.code, gated=True)
        raise SoldOut()
    if answer == gate.DUPLICATE:
        metrics.claim_rejected(campaign_id=campaign_id, reason=AlreadyClaimed.code, gated=True)
        raise AlreadyClaimed(limit=rules.per_user_limit)
    try:
        if not isinstance(user, User):
            member = shopper_get(user_id=user.pk)
            if member is None:
                raise PermissionDenied()
            user = member
        coupon = _claim_in_database(campaign_id=campaign_id, user=user, key_hash=key_hash, now=now)
    except SoldOut:
        if answer == gate.OK:
            gate.mark_sold_out(campaign_id=campaign_id)
        metrics.claim_rejected(campaign_id=campaign_id, reason=SoldOut.code)
        raise
    except AlreadyClaimed:
        if answer == gate.OK:
            # The slot the gate took was not used: give it back (a gate that says "sold out"
            # while the database still has coupons would lose sales), then set the member's
            # count to the database's.
            gate.give_back(campaign_id=campaign_id, user_id=user.pk, limited=rules.limited)
            count = Coupon.objects.filter(campaign_id=campaign_id, user_id=user.pk).count()
            gate.sync_member(campaign_id=campaign_id, user_id=user.pk, count=count)
        metrics.claim_rejected(campaign_id=campaign_id, reason=AlreadyClaimed.code)
        raise
    except BaseException as exc:
        if answer == gate.OK:
            gate.give_back(campaign_id=campaign_id, user_id=user.pk, limited=rules.limited)
        metrics.claim_rejected(campaign_id=campaign_id, reason=getattr(exc, "code", "error"))
        raise
    if answer == gate.UNPRIMED:
        _prime_gate(campaign_id)
    metrics.claimed(campaign_id=campaign_id)
    return coupon


def rejected_counts(campaign_id: int) -> dict[str, int]:
    """Claims refused, by reason (the cache: shared on Redis, per process otherwise)."""
    return metrics.rejected_counts(campaign_id)


__all__: list[Any] = ["Rules", "campaign_rules", "campaign_rules_forget", "coupon_claim", "rejected_counts"]
