"""Reports API (API.md "Reports"): the daily aggregates as JSON or streamed CSV.

- ``GET /reports/daily-sales?market=&from=&to=&format=json|csv``: ``analytics.view_dailysales``
  (ops admins).
- ``GET /reports/coupon-usage?from=&to=&format=json|csv``:
  ``analytics.view_couponusagedaily`` (ops admins, marketing managers).

``from`` and ``to`` are market-local dates (inclusive), at most
``ANALYTICS_REPORT_MAX_DAYS`` days apart. A staff member scoped to some markets sees only
their rows. ``format`` is this API's own parameter: DRF's ``?format=`` renderer switch is
off for these views.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import HasPerm
from apps.accounts.selectors import staff_markets
from apps.analytics import exports, selectors
from apps.analytics.errors import ReportDateInvalid, ReportFormatInvalid, ReportRangeInvalid
from apps.core.api.renderers import ProblemAwareContentNegotiation
from apps.core.api.schema import problem_responses
from apps.core.errors import LoginRequired, PermissionDenied
from apps.markets.errors import UnknownMarket
from apps.markets.selectors import market_get

API_FORMATS = ("json", "csv")
_ERRORS = (LoginRequired, PermissionDenied, ReportDateInvalid, ReportRangeInvalid, ReportFormatInvalid)


class ReportNegotiation(ProblemAwareContentNegotiation):
    """JSON whatever ``?format=`` says: the view reads that parameter itself (a CSV answer
    is a streamed response, not a DRF renderer's)."""

    def select_renderer(
        self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def _date(params: Any, field: str) -> dt.date:
    raw = params.get(field) or ""
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    raise ReportDateInvalid(field=field)


def _query(request: Request) -> tuple[dt.date, dt.date, str]:
    """``from``, ``to`` and ``format``, checked. Raises: reports.invalid_date,
    reports.invalid_range, reports.invalid_format."""
    params = request.query_params
    start, end = _date(params, "from"), _date(params, "to")
    selectors.report_range_check(start=start, end=end)
    fmt = params.get("format") or "json"
    if fmt not in API_FORMATS:
        raise ReportFormatInvalid(format=fmt, formats=", ".join(API_FORMATS))
    return start, end, fmt


def _scope(request: Request, market: str | None) -> list[str] | None:
    """The markets the caller may read, narrowed to ``market`` when given.
    Raises: market.unknown, auth.permission_denied (a market outside the caller's scope)."""
    scope = staff_markets(request.user)
    if market:
        code = market_get(market).code
        if scope is not None and code not in scope:
            raise PermissionDenied()
        return [code]
    return None if scope is None else sorted(scope)


def _answer(report: str, *, start: dt.date, end: dt.date, fmt: str, markets: list[str] | None) -> Any:
    rows = selectors.report_rows(
        report, start=start, end=end, markets=markets, language=translation.get_language()
    )
    if fmt == "csv":
        response = StreamingHttpResponse(
            exports.csv_lines(selectors.REPORTS[report], rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{report}-{start:%Y%m%d}-{end:%Y%m%d}.csv"'
        response["Cache-Control"] = "no-store"
        return response
    return Response(exports.json_document(report, start=start, end=end, rows=rows))


_FROM = OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First market-local day.")
_TO = OpenApiParameter(
    "to", OpenApiTypes.DATE, required=True, description="Last market-local day (inclusive); at most 366 days."
)
_FORMAT = OpenApiParameter(
    "format", OpenApiTypes.STR, enum=list(API_FORMATS), description="`json` (default) or `csv` (streamed)."
)

DailySalesRowSerializer = inline_serializer(
    name="DailySalesRow",
    fields={
        "date": serializers.DateField(),
        "market": serializers.CharField(),
        "currency": serializers.CharField(),
        "orders": serializers.IntegerField(),
        "gross": serializers.IntegerField(help_text="Minor units: orders before discounts."),
        "discounts": serializers.IntegerField(help_text="Minor units: sale and coupon discounts."),
        "refunds": serializers.IntegerField(help_text="Minor units: money given back that day."),
        "net": serializers.IntegerField(help_text="gross - discounts - refunds."),
    },
)
CouponUsageRowSerializer = inline_serializer(
    name="CouponUsageRow",
    fields={
        "date": serializers.DateField(),
        "campaign_id": serializers.IntegerField(),
        "campaign": serializers.CharField(),
        "market": serializers.CharField(),
        "issued": serializers.IntegerField(),
        "used": serializers.IntegerField(),
        "issued_to_date": serializers.IntegerField(),
        "used_to_date": serializers.IntegerField(),
        "usage_rate": serializers.DecimalField(
            max_digits=9, decimal_places=4, allow_null=True, help_text="used_to_date / issued_to_date."
        ),
    },
)


def _document(name: str, row: Any) -> Any:
    return inline_serializer(
        name=name,
        fields={
            "report": serializers.CharField(),
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "results": row.__class__(many=True),
        },
    )


_CSV = OpenApiResponse(
    response=OpenApiTypes.STR, description="With `format=csv`: `text/csv`, the same columns, streamed."
)


class DailySalesReportApi(APIView):
    """Sales per market-local day: orders paid that day, their gross and discounts, the
    refunds made that day and the net, in minor units of the market's currency."""

    permission_classes = [HasPerm("analytics.view_dailysales")]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = ReportNegotiation

    @extend_schema(
        operation_id="reports_daily_sales",
        parameters=[
            OpenApiParameter("market", OpenApiTypes.STR, description="KR or US; all markets when absent."),
            _FROM,
            _TO,
            _FORMAT,
        ],
        responses={
            (200, "application/json"): _document("DailySalesReport", DailySalesRowSerializer),
            (200, "text/csv"): _CSV,
            **problem_responses(*_ERRORS, UnknownMarket),
        },
        tags=["reports"],
    )
    def get(self, request: Request) -> Any:
        start, end, fmt = _query(request)
        markets = _scope(request, request.query_params.get("market"))
        return _answer("daily-sales", start=start, end=end, fmt=fmt, markets=markets)


class CouponUsageReportApi(APIView):
    """Coupons issued and used per campaign and local day of its market, with the usage
    rate so far."""

    permission_classes = [HasPerm("analytics.view_couponusagedaily")]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = ReportNegotiation

    @extend_schema(
        operation_id="reports_coupon_usage",
        parameters=[_FROM, _TO, _FORMAT],
        responses={
            (200, "application/json"): _document("CouponUsageReport", CouponUsageRowSerializer),
            (200, "text/csv"): _CSV,
            **problem_responses(*_ERRORS),
        },
        tags=["reports"],
    )
    def get(self, request: Request) -> Any:
        start, end, fmt = _query(request)
        return _answer("coupon-usage", start=start, end=end, fmt=fmt, markets=_scope(request, None))
