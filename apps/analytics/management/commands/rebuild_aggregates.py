"""``manage.py rebuild_aggregates --from YYYY-MM-DD --to YYYY-MM-DD [--market KR]``:
rebuild the daily sales and coupon usage of those market-local days from the source
tables. Idempotent: running it twice leaves the same rows (services.aggregates_rebuild)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.analytics import services
from apps.markets.models import Market


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Rebuild the daily aggregates of market-local days FROM..TO (inclusive)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="end", required=True, help="Last day, YYYY-MM-DD (inclusive).")
        parser.add_argument("--market", help="One market (KR, US); every active market when absent.")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = parse_date(options["start"]), parse_date(options["end"])
        if end < start:
            raise CommandError("--to is before --from")
        market = options.get("market")
        if market and not Market.objects.filter(code=market.upper()).exists():
            raise CommandError(f"no market {market!r}")
        days = services.aggregates_rebuild(market=market, start=start, end=end)
        self.stdout.write(f"rebuilt {days} market-day(s) from {start} to {end}")
