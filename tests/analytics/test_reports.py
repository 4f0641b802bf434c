"""Reports (issue 23 item 2): ``GET /reports/daily-sales`` and ``/reports/coupon-usage`` in
JSON and streamed CSV, ``manage.py export_report`` in CSV, JSON and Parquet: every format
says the same, and the same as a direct reckoning over the orders."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import tokens
from apps.analytics import services
from apps.markets.models import Market
from tests.accounts.factories import staff
from tests.analytics.factories import KST, reckon_coupon_usage, reckon_daily_sales
from tests.security.conftest import assert_problem

pytestmark = pytest.mark.django_db

FIRST, LAST = dt.date(2026, 11, 28), dt.date(2026, 12, 2)
RANGE = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
SALES = "/api/v1/reports/daily-sales"
USAGE = "/api/v1/reports/coupon-usage"


@pytest.fixture
def built(scenario):  # type: ignore[no-untyped-def]
    services.aggregates_rebuild(start=FIRST, end=LAST)
    return scenario


def _auth(role: str, market: str | None = None, language: str = "en") -> dict[str, str]:
    user = staff(role, market=market, email=f"{role}-{market or 'all'}-reports@staff.test")
    user.locale = language  # the profile's language wins over Accept-Language
    user.save(update_fields=["locale"])
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user)}", "HTTP_ACCEPT_LANGUAGE": language}


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _texts(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """JSON rows as CSV would write them (None is an empty cell)."""
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


# --- daily sales ---------------------------------------------------------------------------


def test_daily_sales_json_equals_the_direct_reckoning_over_the_orders(api_client, built):
    response = api_client.get(SALES, RANGE, **_auth("ops_admin"))

    assert response.status_code == 200
    body = response.json()
    assert (body["report"], body["from"], body["to"]) == ("daily-sales", "2026-11-28", "2026-12-02")
    rows = body["results"]
    assert [(r["date"], r["market"]) for r in rows] == [
        (day.isoformat(), market)
        for day in [FIRST + dt.timedelta(days=i) for i in range(5)]
        for market in ("KR", "US")
    ]
    for row in rows:
        market = Market.objects.get(code=row["market"])
        expected = reckon_daily_sales(market, dt.date.fromisoformat(row["date"]))
        assert {k: row[k] for k in expected} == expected, row
        assert row["currency"] == market.currency
    assert sum(r["orders"] for r in rows) == 4


def test_daily_sales_csv_is_streamed_with_the_same_rows_as_json(api_client, built):
    auth = _auth("ops_admin")

    as_json = api_client.get(SALES, {**RANGE, "market": "US"}, **auth).json()["results"]
    as_csv = api_client.get(SALES, {**RANGE, "market": "US", "format": "csv"}, **auth)

    assert as_csv.status_code == 200
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="daily-sales-20261128-20261202.csv"' in as_csv["Content-Disposition"]
    rows = _csv(as_csv)
    assert list(rows[0]) == ["date", "market", "currency", "orders", "gross", "discounts", "refunds", "net"]
    assert rows == _texts(as_json)
    assert {r["market"] for r in rows} == {"US"} and len(rows) == 5


def test_a_staff_member_scoped_to_a_market_reads_only_that_market(api_client, built):
    auth = _auth("ops_admin", market="KR")

    everything = api_client.get(SALES, RANGE, **auth)
    other = api_client.get(SALES, {**RANGE, "market": "US"}, **auth)

    assert {r["market"] for r in everything.json()["results"]} == {"KR"}
    assert_problem(other, 403, "auth.permission_denied")


def test_the_number_of_queries_does_not_grow_with_the_range(api_client, built):
    auth = _auth("ops_admin")
    api_client.get(SALES, RANGE, **auth)  # warm the caches (markets, permissions)

    with CaptureQueriesContext(connection) as one_day:
        api_client.get(SALES, {"from": "2026-11-29", "to": "2026-11-29"}, **auth)
    with CaptureQueriesContext(connection) as five_days:
        response = api_client.get(SALES, RANGE, **auth)

    assert len(response.json()["results"]) == 10
    assert len(five_days.captured_queries) == len(one_day.captured_queries)


# --- coupon usage --------------------------------------------------------------------------


def test_marketing_reads_coupon_usage_in_json_and_csv_alike(api_client, built):
    auth = _auth("marketing_manager")
    campaign = built.campaign

    as_json = api_client.get(USAGE, RANGE, **auth)
    as_csv = api_client.get(USAGE, {**RANGE, "format": "csv"}, **auth)

    assert as_json.status_code == 200
    rows = as_json.json()["results"]
    assert [r["date"] for r in rows] == ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
    for row in rows:
        expected = reckon_coupon_usage(campaign, KST, dt.date.fromisoformat(row["date"]))
        expected["usage_rate"] = None if expected["usage_rate"] is None else str(expected["usage_rate"])
        assert {k: row[k] for k in expected} == expected
        assert (row["campaign_id"], row["campaign"], row["market"]) == (campaign.pk, "=Night owl", "KR")
    assert rows[1]["usage_rate"] == "0.5000"
    # the formula-looking name stays text in CSV; every other cell is the JSON value
    csv_rows = _csv(as_csv)
    assert [r["campaign"] for r in csv_rows] == ["'=Night owl"] * 4
    assert [{**r, "campaign": "=Night owl"} for r in csv_rows] == _texts(rows)


def test_coupon_usage_names_the_campaign_in_the_callers_language(api_client, built):
    response = api_client.get(USAGE, RANGE, **_auth("marketing_manager", language="ko"))

    assert {r["campaign"] for r in response.json()["results"]} == {"올빼미 쿠폰"}


def test_marketing_may_not_read_daily_sales(api_client, built):
    response = api_client.get(SALES, RANGE, **_auth("marketing_manager"))

    assert_problem(response, 403, "auth.permission_denied")


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"to": "2026-12-01"}, 400, "reports.invalid_date"),
        ({"from": "2026-12-1", "to": "2026-12-01"}, 400, "reports.invalid_date"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, 400, "reports.invalid_date"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, 400, "reports.invalid_range"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, 400, "reports.invalid_range"),  # 367 days
        ({**RANGE, "format": "xml"}, 400, "reports.invalid_format"),
        ({**RANGE, "format": "parquet"}, 400, "reports.invalid_format"),  # the command's only
        ({**RANGE, "market": "JP"}, 400, "market.unknown"),
    ],
)
def test_a_bad_query_is_a_problem_with_a_stable_code(api_client, db, query, status, code):
    response = api_client.get(SALES, query, **_auth("ops_admin"))

    assert_problem(response, status, code)


def test_a_range_of_exactly_366_days_is_answered(api_client, db):
    response = api_client.get(SALES, {"from": "2025-01-01", "to": "2026-01-01"}, **_auth("ops_admin"))

    assert response.status_code == 200
    assert response.json()["results"] == []  # nothing built for those days


def test_problems_are_in_the_callers_language(api_client, db):
    reversed_range = {"from": "2026-12-02", "to": "2026-12-01"}

    korean = api_client.get(USAGE, reversed_range, **_auth("marketing_manager", language="ko"))
    english = api_client.get(USAGE, reversed_range, **_auth("marketing_manager"))

    ko, en = (
        assert_problem(korean, 400, "reports.invalid_range"),
        assert_problem(english, 400, "reports.invalid_range"),
    )
    assert en["title"] == "Invalid date range"
    assert ko["title"] == "잘못된 기간"
    assert "366" in ko["detail"] and "366" in en["detail"] and ko["detail"] != en["detail"]
    assert (ko["start"], ko["end"], ko["max_days"]) == ("2026-12-02", "2026-12-01", 366)


# --- manage.py export_report ---------------------------------------------------------------


def _export(report: str, fmt: str, tmp_path: Path, *extra: str) -> Path:
    target = tmp_path / f"{report}.{fmt}"
    call_command(
        "export_report",
        report,
        "--from",
        "2026-11-28",
        "--to",
        "2026-12-02",
        "--format",
        fmt,
        "--output",
        str(target),
        *extra,
    )
    return target


def _parquet(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def _typed(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """CSV/JSON texts read back as Parquet holds them (dates, integers, decimals)."""
    out = []
    for row in rows:
        typed: dict[str, Any] = {}
        for k, v in row.items():
            if k == "date":
                typed[k] = dt.date.fromisoformat(v)
            elif k == "usage_rate":
                typed[k] = Decimal(v) if v not in ("", None) else None
            elif k in ("market", "currency", "campaign"):
                typed[k] = v.removeprefix("'") if k == "campaign" else v
            else:
                typed[k] = int(v)
        out.append(typed)
    return out


@pytest.mark.parametrize("report", ["daily-sales", "coupon-usage"])
def test_csv_json_and_parquet_exports_agree_with_each_other_and_the_api(api_client, built, tmp_path, report):
    parquet = _parquet(_export(report, "parquet", tmp_path))
    as_csv = list(csv.DictReader(io.StringIO(_export(report, "csv", tmp_path).read_text())))
    document = json.loads(_export(report, "json", tmp_path).read_text())
    api = api_client.get(f"/api/v1/reports/{report}", RANGE, **_auth("ops_admin")).json()

    assert parquet  # rows, not an empty agreement
    assert _typed(as_csv) == parquet
    assert _typed(_texts(document["results"])) == parquet
    assert document == api


def test_the_parquet_export_equals_the_direct_reckoning(built, tmp_path):
    rows = _parquet(_export("daily-sales", "parquet", tmp_path, "--market", "KR"))

    assert len(rows) == 5
    kr = Market.objects.get(code="KR")
    for row in rows:
        expected = reckon_daily_sales(kr, row["date"])
        assert {k: row[k] for k in expected} == expected
        assert (row["market"], row["currency"]) == ("KR", "KRW")


def test_the_export_writes_csv_to_standard_output_without_a_file(built, capsys):
    out = io.StringIO()
    call_command(
        "export_report",
        "daily-sales",
        "--from",
        "2026-11-29",
        "--to",
        "2026-11-29",
        "--format",
        "csv",
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[0] == "date,market,currency,orders,gross,discounts,refunds,net"
    assert [line.split(",")[:4] for line in lines[1:]] == [
        ["2026-11-29", "KR", "KRW", "1"],
        ["2026-11-29", "US", "USD", "1"],
    ]


def test_the_export_refuses_parquet_without_a_file_and_a_reversed_range(db):
    with pytest.raises(CommandError):
        call_command(
            "export_report",
            "daily-sales",
            "--from",
            "2026-11-29",
            "--to",
            "2026-11-29",
            "--format",
            "parquet",
        )
    with pytest.raises(CommandError):
        call_command("export_report", "coupon-usage", "--from", "2026-11-30", "--to", "2026-11-29")
