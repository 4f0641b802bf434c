"""Top-ups through the sandbox provider over HTTP (issue 19, Deliver 3-4 and "Show"): a
success credits once; the market's limits hold per top-up and per local day; a decline
and an unreachable provider credit nothing; a money-moving call is never retried, only the
status read is; a charge whose answer timed out stays pending and the settle task credits
it exactly once; a lost charge is dropped after the grace period; the breaker opens and
closes, visible in the gauge; a flapping provider never breaks balance = ledger sum.

The fixture's client reads for 1 s at most and its breaker opens after 3 failures for 1 s,
so every fault plays out in about a second."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from prometheus_client import REGISTRY

from apps.core import clock
from apps.core.errors import IdempotencyKeyReused
from apps.core.models import OutboxEvent
from apps.payments import services
from apps.payments.errors import MethodMarketMismatch, PaymentDeclined, ProviderUnavailable, TopUpLimit
from apps.payments.models import Charge, Wallet, WalletEntry
from apps.payments.providers import reset_provider
from apps.payments.providers.sandbox import SandboxServer
from tests.payments.factories import MemberFactory, ledger_sum, method_for

pytestmark = pytest.mark.django_db

#: A fault delay past the fixture's 1 s read timeout.
PAST_TIMEOUT = 1.5


def _requests(sandbox: SandboxServer, operation: str) -> int:
    return int(sandbox.stats()["requests"][operation])


def _applied(sandbox: SandboxServer, charge: Charge) -> int:
    return int(sandbox.stats()["charges_applied"].get(str(charge.reference), 0))


def _breaker_state() -> float | None:
    return REGISTRY.get_sample_value("joopang_payment_provider_breaker_state")


def _balance(user, market) -> int:
    wallet = Wallet.objects.filter(user=user, currency=market.currency).first()
    return wallet.balance if wallet else 0


def _entries(user) -> int:
    return WalletEntry.objects.filter(wallet__user=user).count()


def test_a_top_up_charges_the_method_and_credits_the_wallet_once(sandbox, kr):
    # given: a member with an approved card
    user = MemberFactory()
    method = method_for(user, kr)

    # when: a top-up of 50,000 won
    result = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=50_000, request_key="k1"
    )

    # then: the charge succeeded at the provider exactly once, and the ledger has its credit
    charge = result.charge
    assert (charge.status, charge.amount, charge.currency, charge.failure_code) == (
        "succeeded",
        50_000,
        "KRW",
        "",
    )
    assert charge.provider_charge_id.startswith("ch_")
    assert charge.settled_at is not None and charge.attempts == 1
    assert _applied(sandbox, charge) == 1
    entry = result.entry
    assert entry is not None
    assert (
        entry.kind,
        entry.amount,
        entry.balance_after,
        entry.reference,
        entry.charge_id,
        entry.actor_id,
    ) == (
        "top_up",
        50_000,
        50_000,
        f"charge:{charge.reference}",
        charge.pk,
        user.pk,
    )
    assert _balance(user, kr) == 50_000 == ledger_sum(entry.wallet)
    event = OutboxEvent.objects.get(type="wallet.credited", aggregate_id=str(entry.wallet_id))
    assert event.payload["entry_id"] == entry.pk
    assert (event.payload["amount"], event.payload["reference"]) == (50_000, f"charge:{charge.reference}")

    # and: the same request key again answers the same top-up without calling the provider
    again = services.top_up(user=user, market=kr, method_id=method.public_id, amount=50_000, request_key="k1")
    assert (again.charge.pk, again.entry.pk if again.entry else None) == (charge.pk, entry.pk)
    assert _requests(sandbox, "charge") == 1
    assert _balance(user, kr) == 50_000


def test_a_top_up_above_the_per_top_up_limit_is_refused_before_any_charge(sandbox, kr):
    # given: KR allows 2,000,000 won per top-up
    user = MemberFactory()
    method = method_for(user, kr)
    assert kr.wallet_top_up_limit == 2_000_000

    # when / then: one won more is wallet.top_up_limit (per top-up); nothing charged or recorded
    with pytest.raises(TopUpLimit) as exc:
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=2_000_001, request_key="k")
    assert exc.value.params == {
        "limit": kr.money(2_000_000).format(),
        "period": "per_top_up",
        "remaining": kr.money(2_000_000).format(),
    }
    assert Charge.objects.filter(user=user).count() == 0
    assert _requests(sandbox, "charge") == 0
    assert _balance(user, kr) == 0


def test_the_daily_limit_counts_the_markets_local_day(sandbox, kr):
    # given: KR allows 5,000,000 won a day (Asia/Seoul); the member topped up 2,000,000 twice
    user = MemberFactory()
    method = method_for(user, kr)
    assert kr.wallet_top_up_daily_limit == 5_000_000
    first = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=2_000_000, request_key="a"
    )
    services.top_up(user=user, market=kr, method_id=method.public_id, amount=2_000_000, request_key="b")

    # when / then: 1,000,001 more is over the day (per day, 1,000,000 left); nothing happens
    with pytest.raises(TopUpLimit) as exc:
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=1_000_001, request_key="c")
    assert exc.value.params == {
        "limit": kr.money(5_000_000).format(),
        "period": "per_day",
        "remaining": kr.money(1_000_000).format(),
    }
    assert Charge.objects.filter(user=user).count() == 2
    assert _requests(sandbox, "charge") == 2
    assert _balance(user, kr) == 4_000_000

    # and: a top-up made one second after Seoul's midnight still counts, although it is the
    # previous day in UTC (midnight in Seoul is 15:00 UTC the day before)
    seoul_midnight = (
        clock.now()
        .astimezone(dt.timezone(dt.timedelta(hours=9)))
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    Charge.objects.filter(pk=first.charge.pk).update(created_at=seoul_midnight + dt.timedelta(seconds=1))
    with pytest.raises(TopUpLimit):
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=1_000_001, request_key="c")

    # and: moved one second before Seoul's midnight, it is yesterday's and no longer counts
    Charge.objects.filter(pk=first.charge.pk).update(created_at=seoul_midnight - dt.timedelta(seconds=1))
    result = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=1_000_001, request_key="c"
    )
    assert result.charge.status == "succeeded"
    assert _balance(user, kr) == 5_000_001 == ledger_sum(result.entry.wallet)


def test_a_method_of_another_market_cannot_top_up(sandbox, kr, us):
    # given: a US card
    user = MemberFactory()
    method = method_for(user, us)

    # when / then
    with pytest.raises(MethodMarketMismatch):
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=1_000, request_key="k")
    assert Charge.objects.filter(user=user).count() == 0
    assert _requests(sandbox, "charge") == 0


def test_a_declined_charge_credits_nothing(sandbox, kr):
    # given: a card the sandbox declines for insufficient funds (last4 0051)
    user = MemberFactory()
    method = method_for(user, kr, last4="0051")

    # when / then: payment.declined carrying the provider's decline code
    with pytest.raises(PaymentDeclined) as exc:
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=10_000, request_key="k")
    assert (exc.value.code, exc.value.http_status) == ("payment.declined", 402)
    assert exc.value.params["decline_code"] == "insufficient_funds"

    # and: the charge failed for that reason, and nothing was credited or emitted
    charge = Charge.objects.get(user=user)
    assert (charge.status, charge.failure_code) == ("failed", "insufficient_funds")
    assert charge.settled_at is not None
    assert _applied(sandbox, charge) == 0
    assert (_balance(user, kr), _entries(user)) == (0, 0)
    assert not OutboxEvent.objects.filter(type="wallet.credited").exists()


def test_a_failing_provider_is_asked_once_and_the_same_key_later_charges_the_same_reference(sandbox, kr):
    # given: a member's card, and a provider that answers 503
    user = MemberFactory()
    method = method_for(user, kr)
    sandbox.set_fault("fail")

    # when: a top-up
    with pytest.raises(ProviderUnavailable) as exc:
        services.top_up(
            user=user, market=kr, method_id=method.public_id, amount=30_000, request_key="retry-me"
        )

    # then: 503 payment.provider_unavailable with Retry-After (the sandbox's 1 s); the charge
    # request went out ONCE (a money-moving call is never retried); nothing credited
    assert (exc.value.code, exc.value.http_status) == ("payment.provider_unavailable", 503)
    assert exc.value.headers == {"Retry-After": "1"}
    assert _requests(sandbox, "charge") == 1
    charge = Charge.objects.get(user=user)
    assert (charge.status, charge.failure_code, charge.settled_at) == ("failed", "provider_unavailable", None)
    assert (_balance(user, kr), _entries(user)) == (0, 0)

    # when: the provider recovers and the member retries with the same key
    sandbox.set_fault("ok")
    result = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=30_000, request_key="retry-me"
    )

    # then: the same charge, same reference, now succeeded; credited once
    assert (result.charge.pk, result.charge.reference, result.charge.status) == (
        charge.pk,
        charge.reference,
        "succeeded",
    )
    assert (result.charge.failure_code, result.charge.attempts) == ("", 2)
    assert Charge.objects.filter(user=user).count() == 1
    assert _requests(sandbox, "charge") == 2
    assert _applied(sandbox, charge) == 1
    assert (_balance(user, kr), _entries(user)) == (30_000, 1)


def test_a_slow_provider_within_the_timeout_is_simply_waited_for(sandbox, kr):
    # given: a provider answering after 0.3 s (the read timeout is 1 s)
    user = MemberFactory()
    method = method_for(user, kr)
    sandbox.set_fault("slow", delay=0.3)

    # when
    result = services.top_up(user=user, market=kr, method_id=method.public_id, amount=7_000, request_key="k")

    # then: one request, succeeded, credited
    assert result.charge.status == "succeeded"
    assert _requests(sandbox, "charge") == 1
    assert _balance(user, kr) == 7_000


def test_a_timed_out_charge_stays_pending_and_is_settled_exactly_once(sandbox, kr):
    # given: a provider that applies the charge but answers after the read timeout
    user = MemberFactory()
    method = method_for(user, kr)
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])

    # when: a top-up
    result = services.top_up(user=user, market=kr, method_id=method.public_id, amount=40_000, request_key="k")

    # then: pending, nothing credited yet, although the provider did apply it
    charge = result.charge
    assert (charge.status, result.entry, charge.settled_at) == ("pending", None, None)
    assert (_balance(user, kr), _entries(user)) == (0, 0)
    assert _applied(sandbox, charge) == 1

    # when: the settle task runs after the settle delay
    later = clock.now() + dt.timedelta(seconds=60)
    counts = services.charges_settle_pending(now=later)

    # then: credited exactly once with the charge's reference
    assert counts == {"succeeded": 1, "failed": 0, "still_pending": 0, "errors": 0}
    charge.refresh_from_db()
    assert charge.status == "succeeded" and charge.provider_charge_id.startswith("ch_")
    entry = WalletEntry.objects.get(wallet__user=user)
    assert (entry.amount, entry.reference, entry.charge_id) == (
        40_000,
        f"charge:{charge.reference}",
        charge.pk,
    )

    # when: the task runs again, and a late settle of the same charge arrives
    again = services.charges_settle_pending(now=later + dt.timedelta(seconds=60))
    services.charge_settle(charge_id=charge.pk, succeeded=True, provider_charge_id="ch_other")
    services.charge_settle(charge_id=charge.pk, succeeded=False, failure_code="declined")

    # then: nothing changes; the provider applied it once and the wallet holds it once
    assert again == {"succeeded": 0, "failed": 0, "still_pending": 0, "errors": 0}
    charge.refresh_from_db()
    assert (charge.status, charge.provider_charge_id) == (
        "succeeded",
        entry.wallet.charges.get().provider_charge_id,
    )
    assert charge.provider_charge_id != "ch_other"
    assert (_balance(user, kr), _entries(user)) == (40_000, 1)
    assert OutboxEvent.objects.filter(type="wallet.credited", aggregate_id=str(entry.wallet_id)).count() == 1
    assert _applied(sandbox, charge) == 1
    assert _requests(sandbox, "charge") == 1


def test_a_pending_charge_is_not_settled_before_the_settle_delay(sandbox, kr, settings):
    # given: a timed-out charge, just now
    user = MemberFactory()
    method = method_for(user, kr)
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    charge = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=1_000, request_key="k"
    ).charge

    # when: the task runs before PAYMENT_CHARGE_SETTLE_AFTER_SECONDS
    early = charge.created_at + dt.timedelta(seconds=settings.PAYMENT_CHARGE_SETTLE_AFTER_SECONDS - 1)
    counts = services.charges_settle_pending(now=early)

    # then: the charge was not even looked at
    assert counts == {"succeeded": 0, "failed": 0, "still_pending": 0, "errors": 0}
    assert _requests(sandbox, "status") == 0
    charge.refresh_from_db()
    assert (charge.status, charge.checked_at) == ("pending", None)


def test_retrying_a_pending_top_up_with_its_key_resends_the_same_reference_and_credits_once(sandbox, kr):
    # given: a charge whose answer timed out
    user = MemberFactory()
    method = method_for(user, kr)
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    pending = services.top_up(user=user, market=kr, method_id=method.public_id, amount=9_000, request_key="k")
    assert pending.charge.status == "pending"

    # when: the member's app retries with the same key once the provider answers again
    sandbox.set_fault("ok")
    result = services.top_up(user=user, market=kr, method_id=method.public_id, amount=9_000, request_key="k")

    # then: the provider replayed its first answer (applied once); the wallet is credited once
    assert (result.charge.pk, result.charge.status) == (pending.charge.pk, "succeeded")
    assert _requests(sandbox, "charge") == 2
    assert _applied(sandbox, result.charge) == 1
    assert (_balance(user, kr), _entries(user)) == (9_000, 1)
    assert services.charges_settle_pending(now=clock.now() + dt.timedelta(seconds=60))["succeeded"] == 0


def test_a_lost_charge_stays_pending_then_is_dropped_after_the_grace_period(sandbox, kr, settings):
    # given: a provider that drops the charge request without applying it
    user = MemberFactory()
    method = method_for(user, kr)
    sandbox.set_fault("lost", delay=PAST_TIMEOUT, operations=["charge"])
    charge = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=5_000, request_key="k"
    ).charge
    assert charge.status == "pending"
    sandbox.set_fault("ok")

    # when: the task runs after the settle delay but before the drop delay
    before_drop = charge.created_at + dt.timedelta(seconds=settings.PAYMENT_CHARGE_DROP_AFTER_SECONDS - 1)
    counts = services.charges_settle_pending(now=before_drop)

    # then: the provider does not know it yet; it stays pending, noted as checked
    assert counts == {"succeeded": 0, "failed": 0, "still_pending": 1, "errors": 0}
    charge.refresh_from_db()
    assert (charge.status, charge.checked_at) == ("pending", before_drop)

    # when: after the drop delay
    after_drop = charge.created_at + dt.timedelta(seconds=settings.PAYMENT_CHARGE_DROP_AFTER_SECONDS + 1)
    counts = services.charges_settle_pending(now=after_drop)

    # then: failed, not found; nothing was ever charged or credited
    assert counts == {"succeeded": 0, "failed": 1, "still_pending": 0, "errors": 0}
    charge.refresh_from_db()
    assert (charge.status, charge.failure_code) == ("failed", "not_found")
    assert charge.settled_at is not None
    assert _applied(sandbox, charge) == 0
    assert (_balance(user, kr), _entries(user)) == (0, 0)


def test_the_status_call_is_retried_and_a_failed_settle_leaves_the_charge_pending(sandbox, kr, settings):
    # given: a timed-out (applied) charge; a breaker that tolerates the failures to come, so
    # that only the retry policy decides how often status is asked
    settings.PAYMENT_BREAKER_FAIL_MAX = 10
    reset_provider()
    user = MemberFactory()
    method = method_for(user, kr)
    sandbox.set_fault("timeout", delay=PAST_TIMEOUT, operations=["charge"])
    charge = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=2_500, request_key="k"
    ).charge
    sandbox.set_fault("fail", operations=["status"])
    later = clock.now() + dt.timedelta(seconds=60)

    # when: the settle task asks while status answers 503
    counts = services.charges_settle_pending(now=later)

    # then: status was asked PAYMENT_PROVIDER_RETRY_ATTEMPTS (3) times, the charge stays pending
    assert counts == {"succeeded": 0, "failed": 0, "still_pending": 0, "errors": 1}
    assert _requests(sandbox, "status") == settings.PAYMENT_PROVIDER_RETRY_ATTEMPTS == 3
    charge.refresh_from_db()
    assert charge.status == "pending"
    assert _entries(user) == 0

    # when: status recovers
    sandbox.set_fault("ok")
    counts = services.charges_settle_pending(now=later)

    # then: settled and credited once
    assert counts["succeeded"] == 1
    assert (_balance(user, kr), _entries(user)) == (2_500, 1)
    assert _applied(sandbox, charge) == 1


def test_the_breaker_opens_after_repeated_failures_and_closes_after_a_successful_probe(sandbox, kr, settings):
    # given: a member's card; the provider starts failing
    user = MemberFactory()
    method = method_for(user, kr)
    assert _breaker_state() == 0
    sandbox.set_fault("fail")

    # when: PAYMENT_BREAKER_FAIL_MAX (3) top-ups fail
    for n in range(settings.PAYMENT_BREAKER_FAIL_MAX):
        with pytest.raises(ProviderUnavailable):
            services.top_up(
                user=user, market=kr, method_id=method.public_id, amount=1_000, request_key=f"f{n}"
            )

    # then: the breaker is open (gauge 2), each failure having reached the provider once
    assert _requests(sandbox, "charge") == 3
    assert _breaker_state() == 2

    # when: the next top-up, with the provider healthy again
    sandbox.set_fault("ok")
    with pytest.raises(ProviderUnavailable) as exc:
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=1_000, request_key="open")

    # then: refused without reaching the provider, Retry-After until the probe (<= 1 s)
    assert exc.value.headers == {"Retry-After": "1"}
    assert _requests(sandbox, "charge") == 3
    assert Charge.objects.get(user=user, request_key=services.request_key_hash("open")).failure_code == (
        "provider_unavailable"
    )
    assert (_balance(user, kr), _entries(user)) == (0, 0)

    # when: the reset time has passed and a top-up goes through as the probe
    time.sleep(settings.PAYMENT_BREAKER_RESET_SECONDS + 0.05)
    result = services.top_up(
        user=user, market=kr, method_id=method.public_id, amount=1_000, request_key="open"
    )

    # then: it succeeded and closed the breaker (gauge 0)
    assert result.charge.status == "succeeded"
    assert _requests(sandbox, "charge") == 4
    assert _breaker_state() == 0
    assert (_balance(user, kr), _entries(user)) == (1_000, 1)


def test_a_flapping_provider_never_breaks_the_ledger(sandbox, kr):
    # given: a provider that fails two requests, answers two, and so on
    user = MemberFactory()
    method = method_for(user, kr)
    sandbox.set_fault("flap", period=2, operations=["charge"])
    amounts = [1_000 * (n + 1) for n in range(8)]

    # when: eight top-ups with distinct keys
    outcomes = []
    for n, amount in enumerate(amounts):
        try:
            services.top_up(
                user=user, market=kr, method_id=method.public_id, amount=amount, request_key=f"k{n}"
            )
            outcomes.append("ok")
        except ProviderUnavailable:
            outcomes.append("unavailable")

    # then: the flap pattern (two consecutive failures never open a breaker of 3), and
    # balance = ledger sum = the sum of the succeeded charges, each applied once
    assert outcomes == ["unavailable", "unavailable", "ok", "ok"] * 2
    succeeded = Charge.objects.filter(user=user, status="succeeded")
    assert succeeded.count() == 4
    wallet = Wallet.objects.get(user=user)
    assert (
        wallet.balance
        == ledger_sum(wallet)
        == sum(c.amount for c in succeeded)
        == 3_000 + 4_000 + 7_000 + 8_000
    )
    assert all(_applied(sandbox, c) == 1 for c in succeeded)

    # when: the failed ones are retried with their keys after the provider heals
    sandbox.set_fault("ok")
    for n, amount in enumerate(amounts):
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=amount, request_key=f"k{n}")

    # then: every top-up credited exactly once
    wallet.refresh_from_db()
    assert wallet.balance == ledger_sum(wallet) == sum(amounts)
    assert Charge.objects.filter(user=user).count() == 8
    assert set(sandbox.stats()["charges_applied"].values()) == {1}
    assert _requests(sandbox, "charge") == 8 + 4


def test_a_request_key_reused_for_another_amount_is_refused_and_charges_nothing_more(sandbox, kr):
    # given: a top-up of 10,000 won under key k
    user = MemberFactory()
    method = method_for(user, kr)
    services.top_up(user=user, market=kr, method_id=method.public_id, amount=10_000, request_key="k")

    # when / then: the same key for 20,000 won is idempotency.key_reused (422)
    with pytest.raises(IdempotencyKeyReused) as exc:
        services.top_up(user=user, market=kr, method_id=method.public_id, amount=20_000, request_key="k")
    assert (exc.value.code, exc.value.http_status) == ("idempotency.key_reused", 422)
    assert _requests(sandbox, "charge") == 1
    assert Charge.objects.filter(user=user).count() == 1
    assert (_balance(user, kr), _entries(user)) == (10_000, 1)
