"""The ledger invariant after a randomized mix of every operation (seeded, reproducible):
on_hand = sum of movements and reserved = active reservations for every stock row, and
0 <= reserved <= on_hand, after each step."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db.models import F

from apps.core.errors import DomainError
from apps.inventory import services
from apps.inventory.models import Reservation, StockLevel
from apps.inventory.selectors import stock_drift
from tests.inventory.factories import stocked_sku

pytestmark = pytest.mark.django_db
WAREHOUSES = ("KR-A", "KR-B", "KR-C")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_ledger_invariant_after_a_random_mix_of_every_operation(seed, kr, clock):
    rng = random.Random(seed)
    skus = [stocked_sku({wh: rng.randint(0, 6) for wh in WAREHOUSES}) for _ in range(3)]
    owners = [f"order:{i}" for i in range(8)]
    refused = 0

    for step in range(120):
        op = rng.choice(
            [
                "reserve",
                "reserve",
                "commit",
                "release",
                "extend",
                "sweep",
                "adjust",
                "transfer",
                "count",
                "tick",
            ]
        )
        sku, owner = rng.choice(skus), rng.choice(owners)
        try:
            if op == "reserve":
                lines = [(rng.choice(skus), rng.randint(1, 4)) for _ in range(rng.randint(1, 3))]
                services.reservation_create(
                    owner=f"{owner}:{step}",
                    lines=lines,
                    market=kr,
                    ttl=dt.timedelta(minutes=rng.randint(1, 5)),
                )
            elif op == "commit":
                active = list(Reservation.objects.values_list("owner", flat=True).distinct())
                if active:
                    services.reservation_commit(owner=rng.choice(active))
            elif op == "release":
                active = list(Reservation.objects.filter(status="active").values_list("owner", flat=True))
                if active:
                    services.reservation_release(owner=rng.choice(active), reason="random")
            elif op == "extend":
                active = list(Reservation.objects.filter(status="active").values_list("owner", flat=True))
                if active:
                    services.reservation_extend(owner=rng.choice(active))
            elif op == "sweep":
                services.reservations_expire_due(limit=rng.randint(1, 5))
            elif op == "adjust":
                kind = rng.choice(list(services.ADJUST_KINDS))
                sign = services.ADJUST_KINDS[kind] or rng.choice([1, -1])
                services.stock_adjust(
                    sku_code=sku,
                    warehouse_code=rng.choice(WAREHOUSES),
                    delta=sign * rng.randint(1, 5),
                    kind=kind,
                    reason="random",
                    actor=None,
                )
            elif op == "transfer":
                source, target = rng.sample(WAREHOUSES, 2)
                services.stock_transfer(
                    sku_code=sku,
                    from_warehouse_code=source,
                    to_warehouse_code=target,
                    quantity=rng.randint(1, 4),
                    reason="random",
                    actor=None,
                )
            elif op == "count":
                level = rng.choice(list(StockLevel.objects.filter(sku__code=sku)))
                services.stock_level_on_hand_set(level_id=level.pk, on_hand=rng.randint(0, 8))
            else:
                clock.advance(seconds=rng.randint(10, 120))
        except DomainError:
            refused += 1  # a refused operation must leave everything as it was

        assert stock_drift() == [], (seed, step, op)
        assert not StockLevel.objects.filter(reserved__gt=F("on_hand")).exists()

    assert refused < 60  # the mix did real work
    assert Reservation.objects.filter(status="committed").exists()
