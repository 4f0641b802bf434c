"""The launch markets (KR, US) and the initial USD/KRW rate.

Used by the data migration ``0002_seed_markets`` (with historical models) and by a
``post_migrate`` receiver that re-creates *missing* rows, e.g. after a test database
flush. Existing rows are never overwritten: ops edit the policies in the admin.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

LAUNCH_MARKETS: list[dict[str, Any]] = [
    {
        "code": "KR",
        "name": "대한민국",
        "name_ko": "대한민국",
        "name_en": "South Korea",
        "currency": "KRW",
        "default_locale": "ko",
        "time_zone": "Asia/Seoul",
        "rounding_increment": 10,
        "rounding_mode": "half_up",
        "tax_mode": "inclusive",
        "tax_rate": Decimal("0.1000"),
        "shipping_fee": 3000,
        "free_shipping_threshold": 19800,
        "reservation_ttl_minutes": 15,
        "return_window_days": 7,
        "e_receipt_required": True,
        "cancellation_policy": "before_shipment",
        "wallet_top_up_limit": 2_000_000,
        "wallet_top_up_daily_limit": 5_000_000,
        "wallet_adjustment_limit": 100_000,
    },
    {
        "code": "US",
        "name": "United States",
        "name_ko": "미국",
        "name_en": "United States",
        "currency": "USD",
        "default_locale": "en",
        "time_zone": "America/New_York",
        "rounding_increment": 1,
        "rounding_mode": "half_up",
        "tax_mode": "exclusive",
        "tax_rate": Decimal("0.0800"),
        "shipping_fee": 599,
        "free_shipping_threshold": 3500,
        "reservation_ttl_minutes": 15,
        "return_window_days": 30,
        "e_receipt_required": False,
        "cancellation_policy": "before_shipment",
        "wallet_top_up_limit": 200_000,
        "wallet_top_up_daily_limit": 500_000,
        "wallet_adjustment_limit": 10_000,
    },
]

INITIAL_FX = {
    "base_currency": "USD",
    "quote_currency": "KRW",
    "valid_from": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "rate": Decimal("1385.50000000"),
    "source": "initial seed; update in the admin",
}


def ensure_launch_markets(market_model: Any, fx_model: Any, *, using: str = "default") -> int:
    """Create the launch markets and the initial rate where missing; returns rows created."""
    created = 0
    # A historical model (an early migration) lacks fields added later: give it only its own.
    fields = {f.name for f in market_model._meta.get_fields()}
    for row in LAUNCH_MARKETS:
        _, was_created = market_model.objects.using(using).get_or_create(
            code=row["code"], defaults={k: v for k, v in row.items() if k != "code" and k in fields}
        )
        created += was_created
    keys = {k: INITIAL_FX[k] for k in ("base_currency", "quote_currency", "valid_from")}
    _, was_created = fx_model.objects.using(using).get_or_create(
        **keys, defaults={"rate": INITIAL_FX["rate"], "source": INITIAL_FX["source"]}
    )
    return created + was_created


def markets_after_migrate(sender: Any, using: str = "default", apps: Any = None, **kwargs: Any) -> None:
    """post_migrate receiver: the launch markets exist after every migrate or flush.

    ``migrate`` passes the migration state's ``apps``; ``flush`` (e.g. between
    transactional tests) passes none, so the global registry is used then.
    """
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    try:
        market_model = apps.get_model("markets", "Market")
        fx_model = apps.get_model("markets", "FxRate")
    except LookupError:  # migrating backwards past 0001
        return
    ensure_launch_markets(market_model, fx_model, using=using)
