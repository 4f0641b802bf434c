"""Reconciliation (issue 19 item 6): ``manage.py wallet_reconcile``, the beat task and the
gauges report any wallet whose balance is not its ledger sum and any charge pending too
long; the command exits 1 on a finding so cron and CI can alert."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from prometheus_client import REGISTRY

from apps.core import clock
from apps.payments import services
from apps.payments.models import Charge, Wallet
from apps.payments.tasks import wallets_reconcile_task
from tests.payments.factories import MemberFactory, funded_wallet, ledger_sum, method_for
from tests.utils.logs import record_logs

pytestmark = pytest.mark.django_db


def _reconcile(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("wallet_reconcile", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def _forge_drift(wallet: Wallet, amount: int = 5) -> None:
    """A write behind the ledger's back (what a hand edit or a bug would do)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE payments_wallet SET balance = balance + %s WHERE id = %s", [amount, wallet.pk])


def _overdue_charge(sandbox, kr, settings) -> Charge:  # type: ignore[no-untyped-def]
    member = MemberFactory()
    method = method_for(member, kr)
    charge = services.top_up_begin(user=member, market=kr, method=method, amount=10_000, request_key="k-1")
    age = dt.timedelta(seconds=settings.PAYMENT_CHARGE_OVERDUE_SECONDS + 60)
    Charge.objects.filter(pk=charge.pk).update(created_at=clock.now() - age)
    charge.refresh_from_db()
    return charge


def test_clean_wallets_exit_zero(kr):
    # given two funded wallets, written only through the services
    funded_wallet(MemberFactory(), kr, 30_000)
    funded_wallet(MemberFactory(), kr, 1_000)

    # when reconciled, as text and as JSON
    code, out = _reconcile()
    json_code, json_out = _reconcile("--json")

    # then nothing is found
    assert code == 0
    assert out.strip() == "wallets: clean (every balance matches its ledger; no charge pending too long)"
    assert json_code == 0
    assert json.loads(json_out) == {
        "clean": True,
        "drift": [],
        "overdue_charges": [],
        "overdue_after_seconds": 900,
    }


def test_a_balance_edited_behind_the_ledger_is_reported_with_its_difference(kr, monkeypatch):
    # given a wallet of 30,000 whose balance is raised by 5 with raw SQL
    member = MemberFactory()
    wallet = funded_wallet(member, kr, 30_000)
    funded_wallet(MemberFactory(), kr, 1_000)  # a healthy neighbour
    _forge_drift(wallet, 5)

    logs = record_logs(monkeypatch, "apps.payments.services.reconcile.logger")

    # when reconciled
    code, out = _reconcile()

    # then the command fails and names the wallet, its member and the difference
    assert code == 1
    assert out.splitlines() == [
        f"drift: wallet {wallet.pk} (member {member.pk}, KRW): balance 30005 vs ledger sum 30000, difference +5",
        "wallets: 1 wallets drifted, 0 charges pending longer than 900 s",
    ]
    assert [e for e in logs if e["event"] == "payments.wallet_drift"] == [
        {
            "event": "payments.wallet_drift",
            "log_level": "error",
            "flow": "payment",
            "wallet_id": wallet.pk,
            "user_id": member.pk,
            "currency": "KRW",
            "balance": 30_005,
            "ledger_sum": 30_000,
        }
    ]
    # and nothing was repaired: reconciliation only reports
    wallet.refresh_from_db()
    assert (wallet.balance, ledger_sum(wallet)) == (30_005, 30_000)


def test_drift_as_json(kr):
    # given a wallet 5 below its ledger
    member = MemberFactory()
    wallet = funded_wallet(member, kr, 30_000)
    _forge_drift(wallet, -5)

    # when reconciled with --json
    code, out = _reconcile("--json")

    # then the document carries the row and the signed difference
    assert code == 1
    body = json.loads(out)
    assert body["clean"] is False
    assert body["drift"] == [
        {
            "wallet_id": wallet.pk,
            "user_id": member.pk,
            "currency": "KRW",
            "balance": 29_995,
            "ledger_sum": 30_000,
            "difference": -5,
        }
    ]
    assert body["overdue_charges"] == []


def test_a_charge_pending_too_long_is_listed(sandbox, kr, settings):
    # given a top-up charge pending for the overdue window plus a minute, and a fresh one
    charge = _overdue_charge(sandbox, kr, settings)
    fresh_member = MemberFactory()
    services.top_up_begin(
        user=fresh_member,
        market=kr,
        method=method_for(fresh_member, kr),
        amount=5_000,
        request_key="k-2",
    )

    # when reconciled
    code, out = _reconcile()
    json_code, json_out = _reconcile("--json")

    # then only the old charge is listed, with its age and market
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"overdue: charge {charge.reference} (KR) pending for ")
    assert lines[1] == "wallets: 0 wallets drifted, 1 charges pending longer than 900 s"
    assert json_code == 1
    [row] = json.loads(json_out)["overdue_charges"]
    assert row["reference"] == str(charge.reference)
    assert row["market"] == "KR"
    assert row["created_at"] == charge.created_at.isoformat()
    assert 960 <= row["age_seconds"] < 1_000


def test_the_beat_task_returns_the_counts_and_sets_the_gauges(sandbox, kr, settings):
    # given one drifted wallet and one overdue charge
    wallet = funded_wallet(MemberFactory(), kr, 2_000)
    _forge_drift(wallet, 5)
    _overdue_charge(sandbox, kr, settings)

    # when the beat task runs
    result = wallets_reconcile_task()

    # then it counts both and the gauges show them
    assert result == {"drift": 1, "overdue_charges": 1}
    assert REGISTRY.get_sample_value("joopang_wallet_drift_wallets") == 1.0
    assert REGISTRY.get_sample_value("joopang_payment_charges_overdue") == 1.0

    # and once the drift is undone the next run clears the drift gauge
    _forge_drift(wallet, -5)
    assert wallets_reconcile_task() == {"drift": 0, "overdue_charges": 1}
    assert REGISTRY.get_sample_value("joopang_wallet_drift_wallets") == 0.0


def test_metrics_scrape_shows_the_overdue_charges(client, sandbox, kr, settings):
    # given no overdue charge, scraped once
    before = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert before.status_code == 200
    assert b"\njoopang_payment_charges_overdue 0.0\n" in before.content

    # when a charge has been pending too long
    _overdue_charge(sandbox, kr, settings)
    after = client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    # then the scrape itself refreshes the gauge (no reconciliation run needed)
    assert after.status_code == 200
    assert b"\njoopang_payment_charges_overdue 1.0\n" in after.content
