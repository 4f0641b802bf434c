"""The payment provider client against the sandbox, over a real socket.

Each test gets its own sandbox on a free port and a fresh client with short timeouts, so
the faults (slow, fail, timeout, lost, flap) and the breaker play out in well under a second
each. The sandbox's ``charges_applied`` count is the proof that money never moves twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from prometheus_client import REGISTRY

from apps.payments.providers import (
    ChargeResult,
    ChargeStatus,
    MethodApproval,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
    RefundResult,
    get_provider,
    reset_provider,
)
from apps.payments.providers.http import HttpPaymentProvider
from apps.payments.providers.sandbox import SandboxServer
from tests.utils.logs import record_logs

READ_TIMEOUT = 0.3
RETRY_ATTEMPTS = 3
FAIL_MAX = 3
RESET_SECONDS = 1


@pytest.fixture
def sandbox(settings) -> Iterator[SandboxServer]:
    server = SandboxServer().start()
    settings.PAYMENT_PROVIDER_URL = server.url
    settings.PAYMENT_PROVIDER_CONNECT_TIMEOUT = 0.5
    settings.PAYMENT_PROVIDER_READ_TIMEOUT = READ_TIMEOUT
    settings.PAYMENT_PROVIDER_RETRY_ATTEMPTS = RETRY_ATTEMPTS
    settings.PAYMENT_PROVIDER_RETRY_BASE_SECONDS = 0.01
    settings.PAYMENT_PROVIDER_RETRY_MAX_SECONDS = 0.05
    settings.PAYMENT_BREAKER_FAIL_MAX = FAIL_MAX
    settings.PAYMENT_BREAKER_RESET_SECONDS = RESET_SECONDS
    reset_provider()
    yield server
    reset_provider()
    server.stop()


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def requests_seen(server: SandboxServer, operation: str) -> int:
    return server.stats()["requests"][operation]


def approved_token(*, last4: str = "4242", reference: str = "pm-1") -> str:
    approval = get_provider().approve_method(
        kind="card", label="KB국민 ****" + last4, last4=last4, customer_ref="user-1", reference=reference
    )
    assert approval.token is not None
    return approval.token


# --- business answers ---------------------------------------------------------------------


def test_approve_charge_status_refund_happy_path(sandbox: SandboxServer) -> None:
    # given a provider client pointed at the sandbox
    provider = get_provider()

    # when a method is approved, charged, looked up and partly refunded
    approval = provider.approve_method(
        kind="card", label="KB국민 ****4242", last4="4242", customer_ref="user-1", reference="pm-1"
    )
    assert approval.token is not None
    charge = provider.charge(token=approval.token, amount=10_000, currency="KRW", reference="topup-1")
    status = provider.status(reference="topup-1")
    refund = provider.refund(
        provider_charge_id=charge.provider_charge_id or "", amount=4_000, currency="KRW", reference="refund-1"
    )

    # then every answer is the typed result, and the sandbox applied the charge once
    assert approval == MethodApproval(status="approved", token=approval.token, label="KB국민 ****4242")
    assert approval.token.startswith("tok_")
    assert charge == ChargeResult(status="succeeded", provider_charge_id=charge.provider_charge_id)
    assert status == ChargeStatus(status="succeeded", provider_charge_id=charge.provider_charge_id)
    assert refund.status == "succeeded"
    assert refund.provider_refund_id is not None
    assert refund.decline_code is None
    assert provider.name == "sandbox"
    assert sandbox.stats()["charges_applied"] == {"topup-1": 1}
    assert sandbox.stats()["refunds_applied"] == {"refund-1": 1}


def test_declines_are_answers_not_errors(sandbox: SandboxServer) -> None:
    # given the sandbox's test methods
    provider = get_provider()
    poor = approved_token(last4="0051", reference="pm-poor")

    # when a declined card is registered, a poor method and an unknown token are charged
    refused = provider.approve_method(
        kind="card", label="card ****0002", last4="0002", customer_ref="user-1", reference="pm-bad"
    )
    insufficient = provider.charge(token=poor, amount=5_000, currency="KRW", reference="topup-poor")
    invalid = provider.charge(
        token="tok_nonexistent", amount=5_000, currency="KRW", reference="topup-invalid"
    )

    # then each is a decline with its code, nothing was applied, and the breaker did not count them
    assert refused == MethodApproval(
        status="declined", token=None, label="card ****0002", decline_code="card_declined"
    )
    assert insufficient.status == "declined"
    assert insufficient.decline_code == "insufficient_funds"
    assert invalid.status == "declined"
    assert invalid.decline_code == "invalid_token"
    assert provider.status(reference="topup-poor").status == "declined"
    assert sandbox.stats()["charges_applied"] == {}
    assert isinstance(provider, HttpPaymentProvider)
    assert provider.breaker_state == "closed"


def test_refund_above_what_is_left_is_declined(sandbox: SandboxServer) -> None:
    # given a 10,000 charge already refunded 6,000
    provider = get_provider()
    charge = provider.charge(token=approved_token(), amount=10_000, currency="KRW", reference="topup-1")
    charge_id = charge.provider_charge_id or ""
    provider.refund(provider_charge_id=charge_id, amount=6_000, currency="KRW", reference="refund-1")

    # when 5,000 more is refunded, then the 4,000 that is left
    too_much = provider.refund(
        provider_charge_id=charge_id, amount=5_000, currency="KRW", reference="refund-2"
    )
    rest = provider.refund(provider_charge_id=charge_id, amount=4_000, currency="KRW", reference="refund-3")

    # then the first is declined and the second goes through
    assert too_much == RefundResult(
        status="declined", provider_refund_id=None, decline_code="amount_exceeds_charge"
    )
    assert rest.status == "succeeded"
    assert sandbox.stats()["refunds_applied"] == {"refund-1": 1, "refund-3": 1}


def test_status_of_an_unknown_reference_is_not_found(sandbox: SandboxServer) -> None:
    assert get_provider().status(reference="never-sent") == ChargeStatus(
        status="not_found", provider_charge_id=None
    )


def test_charge_replayed_with_the_same_reference_applies_once(sandbox: SandboxServer) -> None:
    # given a charge that succeeded
    provider = get_provider()
    token = approved_token()
    first = provider.charge(token=token, amount=10_000, currency="KRW", reference="topup-1")

    # when the same reference is sent again (a caller retrying after a lost answer)
    second = provider.charge(token=token, amount=10_000, currency="KRW", reference="topup-1")

    # then the first answer comes back and the money moved once
    assert second == first
    assert requests_seen(sandbox, "charge") == 2
    assert sandbox.stats()["charges_applied"] == {"topup-1": 1}


def test_reference_reused_with_other_data_is_refused(sandbox: SandboxServer) -> None:
    # given a charge of 10,000 under topup-1
    provider = get_provider()
    token = approved_token()
    provider.charge(token=token, amount=10_000, currency="KRW", reference="topup-1")

    # when topup-1 is sent with another amount, then the provider refuses it (a bug, not a decline)
    with pytest.raises(ProviderError) as raised:
        provider.charge(token=token, amount=99_000, currency="KRW", reference="topup-1")

    assert type(raised.value) is ProviderError
    assert "reference_reused" in str(raised.value)
    assert sandbox.stats()["charges_applied"] == {"topup-1": 1}


# --- faults ---------------------------------------------------------------------------------


def test_slow_answer_within_the_read_timeout_succeeds(sandbox: SandboxServer, settings) -> None:
    # given a sandbox answering after 0.1 s, well under a 3 s read timeout (this test's own:
    # with the suite's 0.3 s, a loaded CI machine that is slow to schedule the sandbox's
    # thread turned the 0.1 s answer into a timeout now and then)
    settings.PAYMENT_PROVIDER_READ_TIMEOUT = 3
    reset_provider()
    token = approved_token()
    sandbox.set_fault("slow", delay=0.1)

    # when a charge is sent
    started = time.monotonic()
    result = get_provider().charge(token=token, amount=10_000, currency="KRW", reference="topup-1")

    # then it succeeds, having waited
    assert result.status == "succeeded"
    assert time.monotonic() - started >= 0.1


def test_failing_provider_charge_is_sent_once_but_status_is_retried(sandbox: SandboxServer) -> None:
    # given a provider answering 503 to everything
    token = approved_token()
    sandbox.set_fault("fail")
    unavailable_before = metric(
        "joopang_payment_provider_calls_total", {"operation": "charge", "outcome": "unavailable"}
    )
    retries_before = metric("joopang_payment_provider_retries_total", {"operation": "status"})

    # when a charge is sent
    with pytest.raises(ProviderUnavailable) as raised:
        get_provider().charge(token=token, amount=10_000, currency="KRW", reference="topup-1")

    # then it is unavailable (nothing applied) and was sent exactly once
    assert raised.value.retry_after == 1
    assert requests_seen(sandbox, "charge") == 1
    assert sandbox.stats()["charges_applied"] == {}
    assert (
        metric("joopang_payment_provider_calls_total", {"operation": "charge", "outcome": "unavailable"})
        == unavailable_before + 1
    )

    # when the status is asked on a fresh client (a new, closed breaker)
    reset_provider()
    with pytest.raises(ProviderUnavailable):
        get_provider().status(reference="topup-1")

    # then it was tried RETRY_ATTEMPTS times, two of them retries
    assert requests_seen(sandbox, "status") == RETRY_ATTEMPTS
    assert metric("joopang_payment_provider_retries_total", {"operation": "status"}) == retries_before + 2


def test_status_retry_recovers_from_one_failure(sandbox: SandboxServer) -> None:
    # given a charge, and status answers flapping: one 503, then answers
    provider = get_provider()
    provider.charge(token=approved_token(), amount=10_000, currency="KRW", reference="topup-1")
    sandbox.set_fault("flap", period=1, operations=["status"])

    # when the status is asked once
    status = provider.status(reference="topup-1")

    # then the retry got the answer
    assert status.status == "succeeded"
    assert requests_seen(sandbox, "status") == 2


def test_timed_out_charge_is_unknown_but_applied_once(sandbox: SandboxServer) -> None:
    # given a provider that applies charges and answers only after the 0.3 s read timeout
    token = approved_token()
    sandbox.set_fault("timeout", delay=0.6, operations=["charge"])

    # when a charge is sent
    with pytest.raises(ProviderOutcomeUnknown):
        get_provider().charge(token=token, amount=10_000, currency="KRW", reference="topup-1")

    # then the status says it happened, once
    status = get_provider().status(reference="topup-1")
    assert status.status == "succeeded"
    assert status.provider_charge_id is not None
    assert sandbox.stats()["charges_applied"] == {"topup-1": 1}
    assert requests_seen(sandbox, "charge") == 1

    # and sending the same reference again (once healed) replays it, still applied once
    sandbox.set_fault("ok")
    replay = get_provider().charge(token=token, amount=10_000, currency="KRW", reference="topup-1")
    assert replay.provider_charge_id == status.provider_charge_id
    assert sandbox.stats()["charges_applied"] == {"topup-1": 1}


def test_lost_charge_is_unknown_and_never_happened(sandbox: SandboxServer) -> None:
    # given a provider that swallows charges without applying them
    token = approved_token()
    sandbox.set_fault("lost", delay=0.4, operations=["charge"])

    # when a charge is sent
    with pytest.raises(ProviderOutcomeUnknown):
        get_provider().charge(token=token, amount=10_000, currency="KRW", reference="topup-1")

    # then the status says the provider never heard of it
    assert get_provider().status(reference="topup-1").status == "not_found"
    assert sandbox.stats()["charges_applied"] == {}


def test_unreachable_provider_is_unavailable(settings) -> None:
    # given a URL where nothing listens (a sandbox started and stopped to free its port)
    server = SandboxServer().start()
    url = server.url
    server.stop()
    settings.PAYMENT_PROVIDER_URL = url
    settings.PAYMENT_PROVIDER_CONNECT_TIMEOUT = 0.5
    reset_provider()

    # when a charge is sent, then nothing can have been applied
    try:
        with pytest.raises(ProviderUnavailable):
            get_provider().charge(token="tok_x", amount=1, currency="KRW", reference="topup-1")
    finally:
        reset_provider()


# --- the circuit breaker ---------------------------------------------------------------------


def test_breaker_opens_after_fail_max_then_probes_and_closes(sandbox: SandboxServer) -> None:
    # given a failing provider and a fresh breaker
    token = approved_token()
    sandbox.set_fault("fail", operations=["charge"])
    opened_before = metric("joopang_payment_provider_breaker_transitions_total", {"to": "open"})
    half_before = metric("joopang_payment_provider_breaker_transitions_total", {"to": "half_open"})
    closed_before = metric("joopang_payment_provider_breaker_transitions_total", {"to": "closed"})
    rejected_before = metric(
        "joopang_payment_provider_calls_total", {"operation": "charge", "outcome": "rejected_open"}
    )
    provider = get_provider()
    assert metric("joopang_payment_provider_breaker_state") == 0

    # when FAIL_MAX charges fail
    for n in range(FAIL_MAX):
        with pytest.raises(ProviderUnavailable):
            provider.charge(token=token, amount=1_000, currency="KRW", reference=f"topup-{n}")

    # then the breaker is open: the next call is refused without reaching the sandbox
    with pytest.raises(ProviderUnavailable) as raised:
        provider.charge(token=token, amount=1_000, currency="KRW", reference="topup-next")
    assert raised.value.retry_after == RESET_SECONDS
    assert requests_seen(sandbox, "charge") == FAIL_MAX
    assert metric("joopang_payment_provider_breaker_state") == 2
    assert metric("joopang_payment_provider_breaker_transitions_total", {"to": "open"}) == opened_before + 1
    assert (
        metric("joopang_payment_provider_calls_total", {"operation": "charge", "outcome": "rejected_open"})
        == rejected_before + 1
    )

    # when the provider heals and the reset timeout passes
    sandbox.set_fault("ok")
    time.sleep(RESET_SECONDS + 0.05)
    result = provider.charge(token=token, amount=1_000, currency="KRW", reference="topup-next")

    # then one probe went through (half-open) and its success closed the breaker
    assert result.status == "succeeded"
    assert requests_seen(sandbox, "charge") == FAIL_MAX + 1
    assert (
        metric("joopang_payment_provider_breaker_transitions_total", {"to": "half_open"}) == half_before + 1
    )
    assert metric("joopang_payment_provider_breaker_transitions_total", {"to": "closed"}) == closed_before + 1
    assert metric("joopang_payment_provider_breaker_state") == 0


def test_failed_probe_reopens_the_breaker(sandbox: SandboxServer) -> None:
    # given a breaker opened by a failing provider
    sandbox.set_fault("fail")
    provider = get_provider()
    for n in range(FAIL_MAX):
        with pytest.raises(ProviderUnavailable):
            provider.approve_method(
                kind="card", label="x", last4="4242", customer_ref="u", reference=f"pm-{n}"
            )
    opened_before = metric("joopang_payment_provider_breaker_transitions_total", {"to": "open"})

    # when the probe after the reset timeout fails too
    time.sleep(RESET_SECONDS + 0.05)
    with pytest.raises(ProviderUnavailable) as raised:
        provider.approve_method(kind="card", label="x", last4="4242", customer_ref="u", reference="pm-probe")

    # then the breaker is open again, for another reset timeout
    assert raised.value.retry_after == RESET_SECONDS
    assert requests_seen(sandbox, "approve_method") == FAIL_MAX + 1
    assert metric("joopang_payment_provider_breaker_state") == 2
    assert metric("joopang_payment_provider_breaker_transitions_total", {"to": "open"}) == opened_before + 1


def test_declines_do_not_open_the_breaker(sandbox: SandboxServer) -> None:
    # given a method whose charges are declined
    provider = get_provider()
    poor = approved_token(last4="0051")

    # when it is charged more than FAIL_MAX times
    results = [
        provider.charge(token=poor, amount=1_000, currency="KRW", reference=f"topup-{n}").status
        for n in range(FAIL_MAX + 2)
    ]

    # then every call reached the provider and the breaker stayed closed
    assert results == ["declined"] * (FAIL_MAX + 2)
    assert requests_seen(sandbox, "charge") == FAIL_MAX + 2
    assert metric("joopang_payment_provider_breaker_state") == 0


def test_flapping_provider_fails_then_succeeds_in_turn(sandbox: SandboxServer) -> None:
    # given a provider flapping in runs of two (a breaker that tolerates more failures in a row)
    provider = HttpPaymentProvider(base_url=sandbox.url, read_timeout=READ_TIMEOUT, breaker_fail_max=10)
    token = provider.approve_method(
        kind="card", label="x", last4="4242", customer_ref="u", reference="pm-1"
    ).token
    assert token is not None
    sandbox.set_fault("flap", period=2, operations=["charge"])

    # when six charges are sent
    outcomes: list[str] = []
    for n in range(6):
        try:
            outcomes.append(
                provider.charge(token=token, amount=1_000, currency="KRW", reference=f"t-{n}").status
            )
        except ProviderUnavailable:
            outcomes.append("unavailable")
    provider.close()

    # then two fail, two succeed, two fail; only the successes were applied
    assert outcomes == ["unavailable", "unavailable", "succeeded", "succeeded", "unavailable", "unavailable"]
    assert sandbox.stats()["charges_applied"] == {"t-2": 1, "t-3": 1}


# --- the sandbox's own controls -------------------------------------------------------------


def test_sandbox_is_controllable_over_http(sandbox: SandboxServer) -> None:
    import httpx

    # when a fault is set and the stats read over HTTP
    set_answer = httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"mode": "slow", "delay": 0.2, "operations": ["status"]}
    )
    stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()
    bad = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"mode": "explode"})
    reset = httpx.post(f"{sandbox.url}/_sandbox/reset").json()

    # then the sandbox reports them
    assert set_answer.status_code == 200
    assert stats["fault"] == {"mode": "slow", "delay": 0.2, "period": 2, "operations": ["status"]}
    assert bad.status_code == 400
    assert reset["fault"]["mode"] == "ok"
    assert reset["requests"] == {"approve_method": 0, "charge": 0, "refund": 0, "status": 0}


def test_payment_sandbox_command_rejects_a_port_in_use(sandbox: SandboxServer) -> None:
    from django.core.management.base import CommandError

    port = sandbox.url.rsplit(":", 1)[1]
    with pytest.raises(CommandError) as raised:
        call_command("payment_sandbox", "--port", port)
    assert "payment sandbox" in str(raised.value)


def test_half_open_lets_one_probe_through_and_refuses_the_rest(sandbox: SandboxServer) -> None:
    # given a breaker (fail_max 1, reset 0.2 s) opened by one failure, then a slow but healed provider
    provider = HttpPaymentProvider(
        base_url=sandbox.url, read_timeout=READ_TIMEOUT, breaker_fail_max=1, breaker_reset_seconds=0.2
    )
    sandbox.set_fault("fail")
    with pytest.raises(ProviderUnavailable):
        provider.charge(token="tok_x", amount=1_000, currency="KRW", reference="t-0")
    time.sleep(0.25)
    sandbox.set_fault("slow", delay=0.2)

    # when a probe is in flight and a second call arrives
    probe: list[str] = []
    thread = threading.Thread(
        target=lambda: probe.append(
            provider.charge(token="tok_x", amount=1_000, currency="KRW", reference="t-probe").status
        )
    )
    thread.start()
    time.sleep(0.05)
    with pytest.raises(ProviderUnavailable) as raised:
        provider.charge(token="tok_x", amount=1_000, currency="KRW", reference="t-other")
    state_during_probe = provider.breaker_state
    thread.join()
    provider.close()

    # then only the probe reached the provider, and its answer (a decline is an answer) closed the breaker
    assert raised.value.retry_after == 1
    assert state_during_probe == "half-open"
    assert probe == ["declined"]
    assert requests_seen(sandbox, "charge") == 2
    assert provider.breaker_state == "closed"


def test_breaker_logs_its_transitions_and_never_a_token(sandbox: SandboxServer, monkeypatch) -> None:
    # given a failing charge endpoint and an approved method
    token = approved_token()
    sandbox.set_fault("fail", operations=["charge"])
    logs = record_logs(monkeypatch, "apps.payments.providers.metrics.logger")

    # when the breaker opens
    for n in range(FAIL_MAX):
        with pytest.raises(ProviderUnavailable):
            get_provider().charge(token=token, amount=1_000, currency="KRW", reference=f"topup-{n}")

    # then it was logged as a payment event, with our references but never the token
    events = [entry["event"] for entry in logs]
    assert events.count("payments.provider_call_failed") == FAIL_MAX
    assert events.count("payments.breaker_opened") == 1
    opened = next(entry for entry in logs if entry["event"] == "payments.breaker_opened")
    assert opened["flow"] == "payment"
    assert opened["from_state"] == "closed"
    assert token not in repr(logs)


def test_a_restarted_sandbox_still_honours_the_tokens_it_issued(sandbox: SandboxServer) -> None:
    # given a method approved by the sandbox, and one whose token was tampered with
    good = approved_token(last4="4242", reference="pm-restart")
    insufficient = approved_token(last4="0051", reference="pm-restart-51")
    forged = good[:-1] + ("0" if good[-1] != "0" else "1")

    # when the sandbox restarts (its in-memory state is gone)
    sandbox.reset()
    provider = get_provider()
    ok = provider.charge(token=good, amount=1_000, currency="KRW", reference="after-restart")
    poor = provider.charge(token=insufficient, amount=1_000, currency="KRW", reference="after-restart-51")
    bad = provider.charge(token=forged, amount=1_000, currency="KRW", reference="after-restart-forged")

    # then the saved token still charges (with its test-card behaviour); a forged one does not
    assert ok.status == "succeeded"
    assert (poor.status, poor.decline_code) == ("declined", "insufficient_funds")
    assert (bad.status, bad.decline_code) == ("declined", "invalid_token")
    assert sandbox.stats()["charges_applied"] == {"after-restart": 1}
