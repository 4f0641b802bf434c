"""Demo wallets: the two demo members start with a balance, credited by the demo ops admin
through the ledger (an adjustment with a reason), so the demo shows a real ledger row.
Saved payment methods are not seeded: adding one is part of the demo (the sandbox provider
approves it while ``make run`` is up)."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import User
from apps.markets.selectors import market_get
from apps.payments import services
from apps.payments.models import WalletEntry

OPENING = [("member.kr@joopang.test", "KR", 50_000), ("member.us@joopang.test", "US", 5_000)]
OPS_EMAIL = "ops@joopang.test"


def seed(*, stdout: Any) -> list[str]:
    ops = User.objects.filter(email__iexact=OPS_EMAIL).first()
    if ops is None:
        return []
    lines = []
    for email, market_code, amount in OPENING:
        member = User.objects.filter(email__iexact=email).first()
        if member is None:
            continue
        market = market_get(market_code)
        reference = f"demo:opening:{member.pk}:{market_code}"
        if WalletEntry.objects.filter(reference=reference).exists():
            continue
        services.wallet_adjust(
            user=member,
            market=market,
            amount=amount,
            reason="Demo opening balance",
            actor=ops,
            reference=reference,
        )
        lines.append(f"wallet: {email} holds {market.money(amount).format('en')}")
    return lines
