"""``manage.py export_report daily-sales|coupon-usage --from --to --format csv|json|parquet
[--market KR] [--output FILE]``: the same rows the reports API answers, from the
aggregates (rebuild them first for days not built yet). Without ``--output`` the CSV or
JSON goes to standard output; Parquet needs ``--output``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation

from apps.analytics import exports, selectors
from apps.analytics.errors import ReportRangeInvalid
from apps.analytics.management.commands.rebuild_aggregates import parse_date
from apps.markets.models import Market


class Command(BaseCommand):
    help = "Export a report (daily-sales, coupon-usage) of days FROM..TO as CSV, JSON or Parquet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("report", choices=sorted(selectors.REPORTS))
        parser.add_argument("--from", dest="start", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="end", required=True, help="Last day, YYYY-MM-DD (inclusive).")
        parser.add_argument("--format", dest="fmt", choices=exports.FORMATS, default="csv")
        parser.add_argument("--market", help="Only this market's rows (KR, US).")
        parser.add_argument("--output", help="File to write; standard output when absent (not for parquet).")
        parser.add_argument("--language", default="en", help="Campaign names in ko or en (default en).")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = parse_date(options["start"]), parse_date(options["end"])
        try:
            # The command is not bounded like the API; only the order of the dates matters.
            selectors.report_range_check(start=start, end=end, max_days=10**6)
        except ReportRangeInvalid as exc:
            raise CommandError(str(exc.detail)) from None
        market = options.get("market")
        if market and not Market.objects.filter(code=market.upper()).exists():
            raise CommandError(f"no market {market!r}")
        fmt, report, output = options["fmt"], options["report"], options.get("output")
        if fmt == "parquet" and not output:
            raise CommandError("--format parquet needs --output FILE")
        with translation.override(options["language"]):
            rows = selectors.report_rows(
                report,
                start=start,
                end=end,
                markets=[market.upper()] if market else None,
                language=options["language"],
            )
            columns = selectors.REPORTS[report]
            if output:
                with open(output, "wb") as target:
                    exports.write(fmt, report, columns, rows, start=start, end=end, target=target)
                self.stderr.write(f"wrote {output}")
            else:
                for chunk in exports.text_chunks(fmt, report, columns, rows, start=start, end=end):
                    self.stdout.write(chunk, ending="")
