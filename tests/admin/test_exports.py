"""Back-office list exports (issue 23, item 2; ``apps.core.admin_export``) through Django's
test client: for each list staff export (orders, coupons, coupon uses, the wallet ledger,
the stock ledger, daily sales, daily coupon usage) a role that may view the list
downloads CSV and XLSX holding exactly the changelist's rows for a filter, in its order;
money as minor units with the currency, times in UTC; a market-scoped member of staff
exports only their markets; a role that cannot view the list gets 403; text that would
be a formula in a spreadsheet is written with a leading apostrophe."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import openpyxl
import pytest
from django.utils import timezone

from apps.analytics.models import CouponUsageDaily, DailySales
from apps.core.admin_export import formula_safe_cell
from apps.coupons.models import Coupon, CouponUse
from apps.inventory import services as inventory
from apps.inventory.models import StockMovement
from apps.markets.models import Market
from apps.payments import services as payments
from apps.payments.models import WalletEntry
from tests.accounts.factories import MemberFactory, staff
from tests.coupons.factories import active_campaign
from tests.inventory.factories import stocked_sku
from tests.orders.factories import paid_order, place

pytestmark = pytest.mark.django_db

ORDERS = "/admin/orders/order/"
COUPONS = "/admin/coupons/coupon/"
COUPON_USES = "/admin/coupons/couponuse/"
WALLET_LEDGER = "/admin/payments/walletentry/"
STOCK_LEDGER = "/admin/inventory/stockmovement/"
DAILY_SALES = "/admin/analytics/dailysales/"
COUPON_USAGE = "/admin/analytics/couponusagedaily/"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _utc(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _export(client, url: str, query: str, fmt: str):  # type: ignore[no-untyped-def]
    """The export form posted back to ``export/?<query>`` (the list's filters) with CSV
    (0) or XLSX (1), as the page's button and form do."""
    return client.post(f"{url}export/?{query}", {"format": fmt, "resource": "0"})


def _csv(client, url: str, query: str = "") -> list[list[str]]:  # type: ignore[no-untyped-def]
    response = _export(client, url, query, "0")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert ".csv" in response["Content-Disposition"]
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")  # spreadsheets read UTF-8 (Korean) with the BOM
    return list(csv.reader(io.StringIO(body[1:])))


def _xlsx(client, url: str, query: str = "") -> list[list[Any]]:  # type: ignore[no-untyped-def]
    response = _export(client, url, query, "1")
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_TYPE
    assert ".xlsx" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]  # no formula
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _listed(client, url: str, query: str = "") -> list[Any]:  # type: ignore[no-untyped-def]
    """The changelist's rows for ``query``, in the page's order."""
    response = client.get(f"{url}?{query}")
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def _both(client, url: str, query: str) -> tuple[list[list[str]], list[list[Any]]]:  # type: ignore[no-untyped-def]
    """CSV and XLSX of the same list: the same header and cells (XLSX keeps numbers as
    numbers, an empty cell is None)."""
    rows, sheet = _csv(client, url, query), _xlsx(client, url, query)
    assert len(rows) == len(sheet)
    for text_row, native_row in zip(rows, sheet, strict=True):
        assert len(text_row) == len(native_row)
        for text, cell in zip(text_row, native_row, strict=True):
            if isinstance(cell, int | float):
                assert float(text) == cell  # "0.2500" in CSV is the number 0.25
            else:
                assert text == ("" if cell is None else cell)
    return rows, sheet


# --- Each list: CSV and XLSX are the changelist's rows -------------------------------
def test_orders_export_the_filtered_rows_in_minor_units_and_utc(client):
    kr = Market.objects.get(code="KR")
    sneaky = paid_order(MemberFactory(email="=2+5@evil.test"), kr)
    plain = paid_order(MemberFactory(), kr)
    pending = place(MemberFactory(), kr)
    us = paid_order(MemberFactory(market_id="US"), Market.objects.get(code="US"))
    client.force_login(staff("cs_agent"))

    listed = _listed(client, ORDERS, "status__exact=paid")
    rows, sheet = _both(client, ORDERS, "status__exact=paid")

    assert {o.pk for o in listed} == {sneaky.pk, plain.pk, us.pk}  # the filter left pending out
    assert pending.pk not in {o.pk for o in listed}
    assert [r[0] for r in rows[1:]] == [o.number for o in listed]  # the list's rows, its order
    assert rows[0] == [
        "주문번호",
        "마켓",
        "회원 이메일",
        "상태",
        "통화",
        "합계 (최소 화폐 단위)",
        "쿠폰 할인 (최소 화폐 단위)",
        "환불 금액 (최소 화폐 단위)",
        "주문 일시 (UTC)",
        "결제 일시 (UTC)",
    ]
    by_number = {row[0]: row for row in sheet[1:]}
    row = by_number[sneaky.number]
    assert row[1:3] == ["KR", "'=2+5@evil.test"]  # shown as text, never run
    assert row[4:8] == ["KRW", sneaky.total, 0, 0] and isinstance(row[5], int)
    assert row[8:] == [_utc(sneaky.created_at), _utc(sneaky.paid_at)]
    assert by_number[us.number][4:6] == ["USD", us.total]


def test_the_wallet_ledger_exports_signed_minor_units_and_escapes_a_typed_reason(client):
    kr, us = Market.objects.get(code="KR"), Market.objects.get(code="US")
    ops = staff("ops_admin")
    member, other = MemberFactory(), MemberFactory(market_id="US")

    def adjust(user, market, amount: int, reason: str) -> WalletEntry:  # type: ignore[no-untyped-def]
        return payments.wallet_adjust(
            user=user, market=market, amount=amount, reason=reason, actor=ops, reference=str(uuid.uuid4())
        )

    credit = adjust(member, kr, 5_000, "Goodwill")
    debit = adjust(member, kr, -1_500, "@SUM(A1:A9)")
    adjust(other, us, 999, "+1 for the US")
    client.force_login(staff("cs_agent"))

    query = "wallet__market__code__exact=KR"
    listed = _listed(client, WALLET_LEDGER, query)
    rows, sheet = _both(client, WALLET_LEDGER, query)

    assert [e.pk for e in listed] == [debit.pk, credit.pk]  # the US line is filtered out
    assert [r[7] for r in rows[1:]] == [e.reference for e in listed]
    assert rows[0][:7] == [
        "시각 (UTC)",
        "마켓",
        "회원 이메일",
        "종류",
        "통화",
        "금액 (최소 화폐 단위)",
        "거래 후 잔액 (최소 화폐 단위)",
    ]
    first = sheet[1]
    assert first[:3] == [_utc(debit.created_at), "KR", member.email]
    assert first[4:7] == ["KRW", -1_500, 3_500]  # a debit is a negative number, not text
    assert first[8] == ops.email
    assert first[9] == "'@SUM(A1:A9)"
    assert rows[1][5] == "-1500"  # the CSV's number is not escaped


def test_coupons_export_the_filtered_rows(client):
    marketing = staff("marketing_manager")
    campaign = active_campaign(actor=marketing)
    now = timezone.now()

    def coupon(email: str, status: str) -> Coupon:
        return Coupon.objects.create(
            campaign=campaign,
            user=MemberFactory(email=email),
            seq=1,
            status=status,
            uses_left=1 if status == "issued" else 0,
            expires_at=now + dt.timedelta(days=7),
            claimed_at=now - dt.timedelta(minutes=Coupon.objects.count()),
            used_at=now if status == "used" else None,
        )

    issued = coupon("+82-10@evil.test", "issued")
    other = coupon("someone@example.test", "issued")
    used = coupon("used@example.test", "used")
    client.force_login(marketing)

    listed = _listed(client, COUPONS, "status__exact=issued")
    rows, sheet = _both(client, COUPONS, "status__exact=issued")

    assert [c.pk for c in listed] == [issued.pk, other.pk]
    assert used.pk not in {c.pk for c in listed}
    assert [r[2] for r in rows[1:]] == ["'+82-10@evil.test", other.user.email]
    assert sheet[1] == [
        "봄맞이 쿠폰",
        1,
        "'+82-10@evil.test",
        "사용 가능",
        1,
        _utc(issued.claimed_at),
        None,
        _utc(issued.expires_at),
    ]


def test_coupon_uses_export_the_discount_in_minor_units(client):
    marketing = staff("marketing_manager")
    campaign = active_campaign(actor=marketing)
    now = timezone.now()
    coupon = Coupon.objects.create(
        campaign=campaign,
        user=MemberFactory(),
        seq=1,
        status="used",
        uses_left=0,
        expires_at=now + dt.timedelta(days=7),
        claimed_at=now,
    )

    def use(status: str, owner: str, number: str, minutes: int) -> CouponUse:
        when = now - dt.timedelta(minutes=minutes)
        return CouponUse.objects.create(
            coupon=coupon,
            owner=owner,
            order_number=number,
            discount=1_000,
            currency="KRW",
            status=status,
            created_at=when,
            updated_at=when,
        )

    used = use("used", "order:1", "K-0001", 1)
    released = use("released", "=cmd|' /C calc'!A0", "", 2)
    use("held", "order:3", "K-0003", 3)
    client.force_login(staff("cs_agent"))

    listed = [u for u in _listed(client, COUPON_USES) if u.status in ("used", "released")]
    rows, sheet = _both(client, COUPON_USES, "status__exact=released")
    used_rows = _csv(client, COUPON_USES, "status__exact=used")

    assert [u.pk for u in listed] == [used.pk, released.pk]
    assert len(rows) == 2 and len(used_rows) == 2  # one row each (and the header)
    assert sheet[1] == [
        _utc(released.created_at),
        "봄맞이 쿠폰",
        1,
        coupon.user.email,
        "'=cmd|' /C calc'!A0",  # the order shown when there is no number: escaped
        "해제됨",
        "KRW",
        1_000,
    ]
    assert used_rows[1][4] == "K-0001"


def test_the_stock_ledger_exports_the_filtered_rows_to_xlsx_too(client):
    manager = staff("inventory_manager")
    sku = stocked_sku({"KR-A": 10, "KR-B": 2})
    damage = inventory.stock_adjust(
        sku_code=sku, warehouse_code="KR-A", delta=-2, kind="damage", reason="-2 dropped", actor=manager
    )
    client.force_login(manager)

    listed = _listed(client, STOCK_LEDGER, "kind__exact=damage")
    _rows, sheet = _both(client, STOCK_LEDGER, "kind__exact=damage")

    assert StockMovement.objects.count() == 3  # two opening counts and the damage
    assert [m.pk for m in listed] == [r[11] for r in sheet[1:]]
    movement = StockMovement.objects.get(kind="damage")
    assert sheet[1][2:10] == [sku, "KR-A", "파손", -2, 10, 8, manager.email, "'-2 dropped"]
    assert sheet[1][0] == _utc(movement.created_at)
    assert damage.on_hand == 8


def test_daily_sales_export_minor_units_and_the_markets_day(client):
    now = timezone.now()
    day = dt.date(2026, 11, 29)
    rows_made = [
        DailySales.objects.create(
            market_id=code,
            date=day - dt.timedelta(days=n),
            currency=currency,
            orders=3 + n,
            gross=gross,
            discounts=100,
            refunds=n * 50,
            net=gross - 100 - n * 50,
            computed_at=now,
        )
        for code, currency, gross in (("KR", "KRW", 52_100), ("US", "USD", 4_099))
        for n in (0, 1)
    ]
    client.force_login(staff("ops_admin"))

    listed = _listed(client, DAILY_SALES, "market__code__exact=US")
    rows, sheet = _both(client, DAILY_SALES, "market__code__exact=US")

    us_rows = [r for r in rows_made if r.market_id == "US"]
    assert [d.pk for d in listed] == [r.pk for r in us_rows]  # newest day first
    assert rows[0] == [
        "날짜 (마켓 현지 기준)",
        "마켓",
        "통화",
        "주문",
        "총매출 (최소 화폐 단위)",
        "할인 (최소 화폐 단위)",
        "환불 (최소 화폐 단위)",
        "순매출 (최소 화폐 단위)",
        "집계 시각 (UTC)",
    ]
    assert sheet[1:] == [
        ["2026-11-29", "US", "USD", 3, 4_099, 100, 0, 3_999, _utc(now)],
        ["2026-11-28", "US", "USD", 4, 4_099, 100, 50, 3_949, _utc(now)],
    ]


def test_daily_coupon_usage_exports_counts_and_the_rate(client):
    marketing = staff("marketing_manager")
    campaign = active_campaign(actor=marketing, name_ko="=1+1 쿠폰")
    now = timezone.now()
    for code, day, used in (("KR", 29, 1), ("KR", 30, 2), ("US", 28, 0)):
        CouponUsageDaily.objects.create(
            campaign=campaign,
            market_id=code,
            date=dt.date(2026, 11, day),
            issued=4,
            used=used,
            issued_to_date=8,
            used_to_date=used,
            computed_at=now,
        )
    client.force_login(marketing)

    listed = _listed(client, COUPON_USAGE, "market__code__exact=KR")
    rows, sheet = _both(client, COUPON_USAGE, "market__code__exact=KR")

    assert [(d.market_id, d.date.day) for d in listed] == [("KR", 30), ("KR", 29)]
    assert [r[0] for r in rows[1:]] == ["2026-11-30", "2026-11-29"]
    assert sheet[1][1:8] == ["'=1+1 쿠폰", "KR", 4, 2, 8, 2, 0.25]
    assert rows[1][7] == "0.2500"


# --- Market scope ------------------------------------------------------------------
def _seed_orders() -> None:
    paid_order(MemberFactory(), Market.objects.get(code="KR"))
    paid_order(MemberFactory(market_id="US"), Market.objects.get(code="US"))


def _seed_wallets() -> None:
    ops = staff("ops_admin")
    for code in ("KR", "US"):
        payments.wallet_adjust(
            user=MemberFactory(market_id=code),
            market=Market.objects.get(code=code),
            amount=500,
            reason="seed",
            actor=ops,
            reference=str(uuid.uuid4()),
        )


def _seed_stock() -> None:
    stocked_sku({"KR-A": 1})
    stocked_sku({"US-A": 1}, market="US")


def _seed_sales() -> None:
    for code, currency in (("KR", "KRW"), ("US", "USD")):
        DailySales.objects.create(
            market_id=code, date=dt.date(2026, 11, 29), currency=currency, computed_at=timezone.now()
        )


@pytest.mark.parametrize(
    ("url", "role", "seed", "market_column"),
    [
        (ORDERS, "cs_agent", _seed_orders, 1),
        (WALLET_LEDGER, "cs_agent", _seed_wallets, 1),
        (STOCK_LEDGER, "inventory_manager", _seed_stock, 3),
        (DAILY_SALES, "ops_admin", _seed_sales, 1),
    ],
    ids=["orders", "wallet ledger", "stock ledger", "daily sales"],
)
def test_a_market_scoped_member_of_staff_exports_only_their_market(client, url, role, seed, market_column):
    seed()
    client.force_login(staff("ops_admin"))
    everything = _csv(client, url)
    client.force_login(staff(role, market="KR"))

    rows, _sheet = _both(client, url, "")

    markets = {row[market_column] for row in everything[1:]}
    if url == STOCK_LEDGER:  # the warehouse column: its market is its code's prefix
        markets = {code.split("-")[0] for code in markets}
    assert markets == {"KR", "US"}  # there is another market's row to leave out
    shown = {row[market_column] for row in rows[1:]}
    assert shown and {value.split("-")[0] for value in shown} == {"KR"}
    assert len(rows) == 1 + len(_listed(client, url))


# --- Who may export ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "role"),
    [
        (ORDERS, "marketing_manager"),
        (ORDERS, "inventory_manager"),
        (COUPONS, "inventory_manager"),
        (COUPON_USES, "inventory_manager"),
        (WALLET_LEDGER, "marketing_manager"),
        (STOCK_LEDGER, "cs_agent"),
        (DAILY_SALES, "marketing_manager"),
        (DAILY_SALES, "cs_agent"),
        (COUPON_USAGE, "cs_agent"),
    ],
)
def test_a_role_that_cannot_view_the_list_gets_403(client, url, role):
    client.force_login(staff(role))

    assert client.get(url).status_code == 403  # the list itself
    assert client.get(f"{url}export/").status_code == 403
    for fmt in ("0", "1"):
        response = _export(client, url, "", fmt)
        assert response.status_code == 403
        assert not response.has_header("Content-Disposition")


@pytest.mark.parametrize(
    ("url", "role"),
    [
        (ORDERS, "ops_admin"),
        (COUPONS, "cs_agent"),
        (COUPON_USES, "marketing_manager"),
        (WALLET_LEDGER, "ops_admin"),
        (STOCK_LEDGER, "ops_admin"),
        (DAILY_SALES, "ops_admin"),
        (COUPON_USAGE, "marketing_manager"),
    ],
)
def test_a_role_that_views_the_list_sees_the_export_button_and_form(client, url, role):
    client.force_login(staff(role))

    listing = client.get(f"{url}?o=1").content.decode()
    form = client.get(f"{url}export/?o=1")

    assert f'href="{url}export/?o=1"' in listing  # the button keeps the list's query
    assert form.status_code == 200
    page = form.content.decode()
    assert 'name="format"' in page and ">csv<" in page and ">xlsx<" in page
    assert ">json<" not in page  # CSV and XLSX only


def test_a_filter_the_list_refuses_is_not_a_server_error(client):
    client.force_login(staff("ops_admin"))

    response = _export(client, ORDERS, "created_at__date__gte=not-a-date", "0")

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


# --- Formulae ----------------------------------------------------------------------
@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_text_that_a_spreadsheet_would_run_gets_a_leading_apostrophe(text):
    assert formula_safe_cell(text) == f"'{text}"


@pytest.mark.parametrize("value", ["KR-A", "a=b", "", None, -5, 0, 12_900, 0.25])
def test_other_cells_are_written_as_they_are(value):
    assert formula_safe_cell(value) == value
