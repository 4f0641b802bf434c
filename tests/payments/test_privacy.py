"""A member's data request shows their wallet; deleting the account keeps the money records
but leaves no usable payment instrument (apps/payments/privacy.py)."""

from __future__ import annotations

from apps.accounts.selectors import member_export
from apps.accounts.services import user_delete
from apps.payments import services
from apps.payments.models import PaymentMethod, WalletEntry
from tests.payments.factories import MemberFactory, funded_wallet, method_for


def test_the_export_lists_wallet_ledger_methods_and_charges(db, sandbox, kr):
    member = MemberFactory()
    funded_wallet(member, kr, 5_000)
    method = method_for(member, kr, label="KB국민", last4="1234")
    services.top_up(user=member, market=kr, method_id=method.public_id, amount=10_000, request_key="t1")

    data = member_export(member)["payments"]

    assert [(w["currency"], w["balance"]) for w in data["wallets"]] == [("KRW", 15_000)]
    assert [e["kind"] for e in data["wallets"][0]["ledger"]] == ["adjustment", "top_up"]
    assert data["payment_methods"] == [
        {
            "kind": "card",
            "label": "KB국민 ****1234",
            "status": "active",
            "added_at": method.created_at.isoformat(),
        }
    ]
    assert [(c["amount"], c["status"]) for c in data["charges"]] == [(10_000, "succeeded")]
    assert "provider_token" not in str(data) and method.provider_token not in str(data)


def test_deleting_the_account_removes_the_methods_and_keeps_the_ledger(db, sandbox, kr):
    member = MemberFactory()
    wallet = funded_wallet(member, kr, 5_000)
    method = method_for(member, kr)

    user_delete(user=member)

    method.refresh_from_db()
    assert (method.status, method.label, method.last4) == ("removed", "", "")
    assert method.provider_token == f"erased:{method.public_id}"
    assert WalletEntry.objects.filter(wallet=wallet).count() == 1  # the financial record stays
    assert not PaymentMethod.objects.filter(user=member, status="active").exists()
