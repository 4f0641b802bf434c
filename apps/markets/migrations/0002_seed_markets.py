"""Seed the two launch markets and an initial USD/KRW rate (ops update it in the admin)."""

import datetime as dt
from decimal import Decimal

from django.db import migrations

MARKETS = [
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
    },
]


def seed(apps, schema_editor):
    Market = apps.get_model("markets", "Market")
    FxRate = apps.get_model("markets", "FxRate")
    for row in MARKETS:
        Market.objects.update_or_create(code=row["code"], defaults=row)
    FxRate.objects.get_or_create(
        base_currency="USD",
        quote_currency="KRW",
        valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        defaults={"rate": Decimal("1385.50000000"), "source": "initial seed; update in the admin"},
    )


def unseed(apps, schema_editor):
    apps.get_model("markets", "FxRate").objects.filter(source__startswith="initial seed").delete()


class Migration(migrations.Migration):
    dependencies = [("markets", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
