"""What the fault tests do to a throwaway database from outside the servers: seed it and
make short reservations, through the services (the test reads results back with SQL).

Run as ``python -m tests.faults.appctl <command> [json-args]`` with the fault environment
(``DJANGO_SETTINGS_MODULE=tests.faults.settings``, ``DATABASE_URL`` of the throwaway
cluster...); the last line of stdout is one JSON document. A separate process keeps the
test process's own Django (configured for pytest's database) away from the faulted one.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from typing import Any

import django

#: Every member's bearer token lives this long (the whole fault suite is minutes).
TOKEN_SECONDS = 2 * 3600
MEMBERS = 8
SKUS = 6
STOCK = 400
COUPONS = 5


def seed(args: dict[str, Any]) -> dict[str, Any]:
    """Members with long-lived tokens and funded KR wallets, stocked KR SKUs, a coupon
    campaign of ``COUPONS`` coupons (one per member), all through the services/factories."""
    from apps.accounts.tokens import access_token_for
    from apps.core import clock
    from apps.coupons.services import campaign_create, campaign_transition
    from apps.markets.models import Market
    from tests.accounts.factories import MemberFactory, staff
    from tests.carts.factories import stocked
    from tests.payments.factories import funded_wallet

    kr = Market.objects.get(code="KR")
    skus = [stocked(kr=1000 + 100 * i, stock={"KR": STOCK})[1] for i in range(SKUS)]
    members = []
    for i in range(MEMBERS):
        user = MemberFactory(email=f"fault-member-{i}@faults.test", market_id="KR")
        funded_wallet(user, kr, 10**8)
        members.append({"id": user.pk, "token": access_token_for(user, lifetime_seconds=TOKEN_SECONDS)})
    marketing = staff("marketing_manager", email="fault-marketing@staff.test")
    now = clock.now()
    campaign = campaign_create(
        data={
            "name_ko": "장애 시험 쿠폰",
            "name_en": "Fault test coupon",
            "discount_type": "fixed",
            "discount_value": 100,
            "markets": ["KR"],
            "total_quantity": COUPONS,
            "per_user_limit": 1,
            "starts_at": now - dt.timedelta(hours=1),
            "ends_at": now + dt.timedelta(days=1),
        },
        actor=marketing,
    )
    campaign_transition(campaign_id=campaign.pk, to_status="active", actor=marketing)
    return {"skus": skus, "members": members, "campaign_id": campaign.pk, "coupons": COUPONS}


def reserve(args: dict[str, Any]) -> dict[str, Any]:
    """``args["count"]`` reserves of 1 unit each of ``args["sku"]`` held ``args["ttl"]`` s
    (expired by beat's sweep, as every hold is)."""
    from apps.inventory.services import reservation_create
    from apps.markets.models import Market

    kr = Market.objects.get(code="KR")
    ids = []
    for _ in range(int(args["count"])):
        rows = reservation_create(
            owner=f"fault:{uuid.uuid4()}",
            lines=[(args["sku"], 1)],
            market=kr,
            ttl=dt.timedelta(seconds=float(args["ttl"])),
        )
        ids.extend(r.pk for r in rows)
    return {"reservations": ids}


COMMANDS = {"seed": seed, "reserve": reserve}


def main() -> None:
    django.setup()
    command = sys.argv[1]
    args = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = COMMANDS[command](args)
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
