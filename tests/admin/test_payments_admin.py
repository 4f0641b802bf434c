"""Wallets in the back office (issue 19, items 5 and 7) through Django's test client: the
adjustment form calls services.wallet_adjust (limits per role, never below zero, one entry
per rendered form), refusals are the service's localized errors with nothing changed; the
wallets, ledger, payment methods and charges are read-only for everyone and scoped to the
staff member's markets; inventory and marketing see no wallet data at all; the provider
token is never on a page."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from apps.markets.models import Market
from apps.payments.errors import AdjustmentLimit, InsufficientBalance
from apps.payments.models import Charge, PaymentMethod, Wallet, WalletEntry
from tests.accounts.factories import MemberFactory, UserFactory, staff
from tests.payments.factories import funded_wallet, ledger_sum

pytestmark = pytest.mark.django_db

WALLETS = "/admin/payments/wallet/"
LEDGER = "/admin/payments/walletentry/"
METHODS = "/admin/payments/paymentmethod/"
CHARGES = "/admin/payments/charge/"
TOKEN = "tok_sandbox_SECRET_7f3a9c"


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.content.decode())


def _ko(error: Exception) -> str:
    with translation.override("ko"):
        return str(error.detail)  # type: ignore[attr-defined]


def _market(code: str) -> Market:
    return Market.objects.get(code=code)


def _snapshot(wallet: Wallet) -> tuple[int, int]:
    wallet.refresh_from_db()
    return wallet.balance, WalletEntry.objects.filter(wallet=wallet).count()


def _form_reference(page) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'name="request_reference" value="([0-9a-f-]{36})"', page.content.decode())
    assert found, "the adjustment form carries a per-render reference"
    return found.group(1)


def _adjust(client, wallet: Wallet, amount: str, reason: str, direction: str = "credit", reference=None):  # type: ignore[no-untyped-def]
    url = f"{WALLETS}{wallet.pk}/adjust/"
    if reference is None:
        reference = _form_reference(client.get(url))
    return client.post(
        url, {"direction": direction, "amount": amount, "reason": reason, "request_reference": reference}
    )


@pytest.fixture(autouse=True)
def _limits() -> None:
    """Customer service may adjust a KR wallet by at most ₩50,000 (ops: no limit)."""
    Market.objects.filter(code="KR").update(wallet_adjustment_limit=50_000)


@pytest.fixture
def member():
    return MemberFactory(email="jisoo@example.test", name="박지수")


@pytest.fixture
def kr_wallet(member) -> Wallet:
    return funded_wallet(member, _market("KR"), 10_000)


@pytest.fixture
def us_wallet() -> Wallet:
    jane = MemberFactory(email="jane@example.test", name="Jane Doe", market_id="US")
    return funded_wallet(jane, _market("US"), 2_000)


def _method(
    user, market: str, *, label: str = "KB국민", last4: str = "1234", token: str = TOKEN
) -> PaymentMethod:  # type: ignore[no-untyped-def]
    now = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
    return PaymentMethod.objects.create(
        user=user,
        market_id=market,
        kind="card",
        label=label,
        last4=last4,
        provider="sandbox",
        provider_token=token,
        created_at=now,
    )


def _charge(method: PaymentMethod, wallet: Wallet, amount: int, status: str = "succeeded") -> Charge:
    now = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
    return Charge.objects.create(
        user=method.user,
        wallet=wallet,
        market_id=method.market_id,
        payment_method=method,
        purpose="top_up",
        amount=amount,
        currency=wallet.currency,
        status=status,
        failure_code="" if status == "succeeded" else "insufficient_funds",
        attempts=1,
        created_at=now,
        updated_at=now,
        settled_at=now if status != "pending" else None,
    )


# --- Adjustments ----------------------------------------------------------------------
def test_cs_adjusts_within_the_limit_through_the_service_with_actor_and_reason(client, kr_wallet):
    cs = staff("cs_agent", market="KR")
    client.force_login(cs)

    page = client.get(f"{WALLETS}{kr_wallet.pk}/adjust/")
    response = _adjust(client, kr_wallet, "30,000", "  Goodwill for a late delivery  ")

    assert page.status_code == 200
    assert page.context["limit"] == "₩50,000"  # the KR market's wallet_adjustment_limit
    assert "<script>" not in _text(page)
    assert response.status_code == 302
    assert response["Location"] == f"{WALLETS}{kr_wallet.pk}/change/"
    entry = WalletEntry.objects.filter(wallet=kr_wallet).latest("id")
    assert (entry.kind, entry.amount, entry.balance_after, entry.actor, entry.reason) == (
        "adjustment",
        30_000,
        40_000,
        cs,
        "Goodwill for a late delivery",
    )
    assert entry.reference == f"admin-adjustment:{uuid.UUID(entry.reference.split(':', 1)[1])}"
    kr_wallet.refresh_from_db()
    assert kr_wallet.balance == 40_000 == ledger_sum(kr_wallet)
    shown = _text(client.get(response["Location"]))
    assert "+₩30,000" in shown and "₩40,000" in shown


def test_a_debit_takes_from_the_wallet(client, kr_wallet):
    cs = staff("cs_agent")
    client.force_login(cs)

    response = _adjust(client, kr_wallet, "2500", "Duplicate goodwill credit", direction="debit")

    assert response.status_code == 302
    entry = WalletEntry.objects.filter(wallet=kr_wallet).latest("id")
    assert (entry.amount, entry.balance_after, entry.actor) == (-2_500, 7_500, cs)
    kr_wallet.refresh_from_db()
    assert kr_wallet.balance == 7_500 == ledger_sum(kr_wallet)


def test_dollars_with_cents_become_exact_minor_units(client, us_wallet):
    client.force_login(staff("ops_admin"))

    response = _adjust(client, us_wallet, "12.50", "Refund of a shipping fee")

    assert response.status_code == 302
    entry = WalletEntry.objects.filter(wallet=us_wallet).latest("id")
    assert (entry.amount, entry.balance_after) == (1_250, 3_250)
    us_wallet.refresh_from_db()
    assert us_wallet.balance == 3_250 == ledger_sum(us_wallet)


@pytest.mark.parametrize(
    ("market", "amount", "error_code"),
    [
        ("US", "12.505", "precision"),
        ("KR", "100.5", "precision"),
        ("KR", "0", "min_value"),
        ("KR", "-500", "invalid"),
        ("KR", "5e3", "invalid"),
        ("KR", "", "required"),
        ("KR", "99999999999999", "max_value"),
    ],
)
def test_amounts_that_are_not_exact_minor_units_are_form_errors(
    client, kr_wallet, us_wallet, market, amount, error_code
):
    wallet = kr_wallet if market == "KR" else us_wallet
    client.force_login(staff("ops_admin"))
    before = _snapshot(wallet)

    response = _adjust(client, wallet, amount, "Typo test")

    assert response.status_code == 200
    assert response.context["form"].has_error("amount", error_code)
    assert _snapshot(wallet) == before


def test_a_reason_is_required(client, kr_wallet):
    client.force_login(staff("cs_agent"))
    before = _snapshot(kr_wallet)

    response = _adjust(client, kr_wallet, "1000", "   ")

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert _snapshot(kr_wallet) == before


def test_cs_above_the_market_limit_gets_the_services_error_and_nothing_changes(client, kr_wallet):
    client.force_login(staff("cs_agent", market="KR"))
    before = _snapshot(kr_wallet)

    response = _adjust(client, kr_wallet, "50,001", "Big goodwill")

    assert response.status_code == 200
    assert _ko(AdjustmentLimit(limit="₩50,000")) in _text(response)
    assert 'id="wallet-adjust-errors"' in _text(response)
    assert _snapshot(kr_wallet) == before


def test_ops_is_not_limited(client, kr_wallet):
    ops = staff("ops_admin")
    client.force_login(ops)

    page = client.get(f"{WALLETS}{kr_wallet.pk}/adjust/")
    response = _adjust(client, kr_wallet, "80000", "Compensation approved by the lead")

    assert page.context["limit"] is None  # shown as "no limit"
    assert response.status_code == 302
    entry = WalletEntry.objects.filter(wallet=kr_wallet).latest("id")
    assert (entry.amount, entry.actor) == (80_000, ops)
    kr_wallet.refresh_from_db()
    assert kr_wallet.balance == 90_000 == ledger_sum(kr_wallet)


def test_a_debit_below_zero_is_refused_and_nothing_changes(client, kr_wallet):
    client.force_login(staff("ops_admin"))
    before = _snapshot(kr_wallet)

    response = _adjust(client, kr_wallet, "10001", "Claw back", direction="debit")

    assert response.status_code == 200
    assert _ko(InsufficientBalance(balance="₩10,000", amount="₩10,001")) in _text(response)
    assert _snapshot(kr_wallet) == before == (10_000, 1)


def test_the_same_form_posted_twice_moves_the_wallet_once(client, kr_wallet):
    client.force_login(staff("cs_agent"))
    reference = _form_reference(client.get(f"{WALLETS}{kr_wallet.pk}/adjust/"))

    first = _adjust(client, kr_wallet, "5000", "Goodwill", reference=reference)
    second = _adjust(client, kr_wallet, "5000", "Goodwill", reference=reference)

    assert (first.status_code, second.status_code) == (302, 302)
    assert WalletEntry.objects.filter(reference=f"admin-adjustment:{reference}").count() == 1
    assert _snapshot(kr_wallet) == (15_000, 2)
    assert kr_wallet.balance == ledger_sum(kr_wallet)
    page = _text(client.get(second["Location"]))
    assert "nothing changed" in page or "변경된 내용이 없습니다" in page


def test_every_render_of_the_form_has_its_own_reference(client, kr_wallet):
    client.force_login(staff("cs_agent"))
    url = f"{WALLETS}{kr_wallet.pk}/adjust/"

    assert _form_reference(client.get(url)) != _form_reference(client.get(url))


def test_a_reference_of_another_wallet_is_refused_and_nothing_changes(client, kr_wallet, member):
    client.force_login(staff("ops_admin"))
    other = funded_wallet(MemberFactory(), _market("KR"), 3_000)
    reference = _form_reference(client.get(f"{WALLETS}{kr_wallet.pk}/adjust/"))
    _adjust(client, kr_wallet, "1000", "First", reference=reference)
    before = _snapshot(other)

    response = _adjust(client, other, "1000", "Second", reference=reference)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert _snapshot(other) == before


# --- Who may see and act ----------------------------------------------------------------
def _every_url(kr_wallet: Wallet) -> list[str]:
    method = _method(kr_wallet.user, "KR")
    charge = _charge(method, kr_wallet, 5_000)
    entry = WalletEntry.objects.filter(wallet=kr_wallet).first()
    assert entry is not None
    return [
        WALLETS,
        f"{WALLETS}{kr_wallet.pk}/change/",
        f"{WALLETS}{kr_wallet.pk}/adjust/",
        f"{WALLETS}{kr_wallet.pk}/history/",
        f"{WALLETS}add/",
        f"{WALLETS}{kr_wallet.pk}/delete/",
        LEDGER,
        f"{LEDGER}{entry.pk}/change/",
        f"{LEDGER}add/",
        METHODS,
        f"{METHODS}{method.pk}/change/",
        CHARGES,
        f"{CHARGES}{charge.pk}/change/",
    ]


@pytest.mark.parametrize("role", ["inventory_manager", "marketing_manager"])
def test_inventory_and_marketing_get_403_on_every_wallet_page_and_no_sidebar_item(client, kr_wallet, role):
    urls = _every_url(kr_wallet)
    client.force_login(staff(role))
    before = _snapshot(kr_wallet)

    home = _text(client.get("/admin/"))
    statuses = {url: client.get(url).status_code for url in urls}
    posted = client.post(
        f"{WALLETS}{kr_wallet.pk}/adjust/",
        {"direction": "credit", "amount": "1000", "reason": "x", "request_reference": str(uuid.uuid4())},
    )

    assert statuses == dict.fromkeys(urls, 403)
    assert posted.status_code == 403
    assert "/admin/payments/" not in home
    assert _snapshot(kr_wallet) == before


@pytest.mark.parametrize("role", ["cs_agent", "ops_admin"])
def test_cs_and_ops_find_the_wallet_pages_in_the_sidebar(client, role):
    client.force_login(staff(role))

    home = _text(client.get("/admin/"))
    nav = home.split('id="nav-sidebar-apps"', 1)[1].split("</nav>", 1)[0]

    links = set(re.findall(r'href="(/admin/payments/[^"]*)"', nav))
    assert links == {WALLETS, LEDGER, METHODS, CHARGES}
    for link in links:
        assert client.get(link).status_code == 200, link


def test_a_kr_scoped_agent_sees_kr_wallets_only_and_cannot_open_a_us_wallet(client, kr_wallet, us_wallet):
    client.force_login(staff("cs_agent", market="KR"))
    us_method = _method(us_wallet.user, "US", token="tok_us")
    us_charge = _charge(us_method, us_wallet, 1_000)
    us_entry = WalletEntry.objects.get(wallet=us_wallet)
    before = _snapshot(us_wallet)

    listing = client.get(WALLETS)
    ledger = client.get(LEDGER)
    us_ledger = client.get(f"{LEDGER}?wallet={us_wallet.pk}")
    refused = {
        url: client.get(url).status_code
        for url in (
            f"{WALLETS}{us_wallet.pk}/change/",
            f"{WALLETS}{us_wallet.pk}/adjust/",
            f"{LEDGER}{us_entry.pk}/change/",
            f"{METHODS}{us_method.pk}/change/",
            f"{CHARGES}{us_charge.pk}/change/",
        )
    }
    posted = client.post(
        f"{WALLETS}{us_wallet.pk}/adjust/",
        {"direction": "credit", "amount": "10", "reason": "x", "request_reference": str(uuid.uuid4())},
    )

    assert [w.pk for w in listing.context["cl"].result_list] == [kr_wallet.pk]
    assert {e.wallet_id for e in ledger.context["cl"].result_list} == {kr_wallet.pk}
    assert list(us_ledger.context["cl"].result_list) == []
    assert list(client.get(METHODS).context["cl"].result_list) == []
    assert list(client.get(CHARGES).context["cl"].result_list) == []
    assert set(refused.values()) == {404}
    assert posted.status_code == 404
    assert _snapshot(us_wallet) == before


@pytest.mark.parametrize("model", [Wallet, WalletEntry, PaymentMethod, Charge], ids=lambda m: m._meta.label)
def test_nobody_adds_changes_or_deletes_wallet_rows_through_the_admin(client, kr_wallet, model):
    urls = _every_url(kr_wallet)
    ops = staff("ops_admin")
    root = UserFactory(email="root@staff.test", is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[model]
    row = model.objects.order_by("pk").first()
    base = f"/admin/payments/{model._meta.model_name}/"
    before = (_snapshot(kr_wallet), PaymentMethod.objects.count(), Charge.objects.count())

    for user in (ops, root):
        client.force_login(user)
        request = type("R", (), {"user": user, "method": "GET"})()
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, row)
        assert not model_admin.has_delete_permission(request, row)
        assert client.get(f"{base}add/").status_code == 403
        assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
        changed = client.post(f"{base}{row.pk}/change/", {"balance": "999999", "amount": "1"})
        assert changed.status_code == 403
        page = _text(client.get(f"{base}{row.pk}/change/"))
        assert 'name="_save"' not in page and f"{base}{row.pk}/delete/" not in page

    assert urls  # the rows exist
    assert (_snapshot(kr_wallet), PaymentMethod.objects.count(), Charge.objects.count()) == before


def test_a_viewer_without_adjust_wallet_sees_no_button_and_cannot_open_the_form(client, kr_wallet):
    viewer = UserFactory(email="auditor@staff.test", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_wallet", content_type__app_label="payments")
    )
    client.force_login(viewer)

    page = _text(client.get(f"{WALLETS}{kr_wallet.pk}/change/"))
    form = client.get(f"{WALLETS}{kr_wallet.pk}/adjust/")

    assert f"{WALLETS}{kr_wallet.pk}/adjust/" not in page
    assert form.status_code == 403


# --- What the pages show ----------------------------------------------------------------
def test_wallet_list_shows_member_market_money_and_market_time(client, kr_wallet, us_wallet):
    Wallet.objects.filter(pk=kr_wallet.pk).update(updated_at=dt.datetime(2026, 11, 30, 2, 56, tzinfo=dt.UTC))
    client.force_login(staff("cs_agent", market="KR"))

    page = _text(client.get(WALLETS))
    found = client.get(f"{WALLETS}?q=jisoo@")
    by_name = client.get(f"{WALLETS}?q=박지수")

    assert "박지수 · jisoo@example.test" in page
    assert "₩10,000" in page
    assert "오전 11:56 KST" in page  # the market's zone
    assert [w.pk for w in found.context["cl"].result_list] == [kr_wallet.pk]
    assert [w.pk for w in by_name.context["cl"].result_list] == [kr_wallet.pk]


def test_wallet_list_filters_by_market(client, kr_wallet, us_wallet):
    client.force_login(staff("ops_admin"))

    us_only = client.get(f"{WALLETS}?market__code__exact=US")

    assert [w.pk for w in us_only.context["cl"].result_list] == [us_wallet.pk]
    assert "US$20.00" in _text(us_only) or "$20.00" in _text(us_only)


def test_wallet_page_shows_its_ledger_newest_first_capped_with_a_link_to_the_whole(client, kr_wallet):
    ops = staff("ops_admin")
    client.force_login(ops)
    for i in range(21):
        _adjust(client, kr_wallet, str(100 + i), f"Correction {i}")
    other = funded_wallet(MemberFactory(), _market("KR"), 777)

    response = client.get(f"{WALLETS}{kr_wallet.pk}/change/")
    page = _text(response)
    full = client.get(f"{LEDGER}?wallet={kr_wallet.pk}")

    rows = response.context["ledger_rows"]
    assert len(rows) == 20 and response.context["ledger_more"] is True
    assert [row["amount"] for row in rows[:2]] == ["+₩120", "+₩119"]  # newest first
    assert rows[0]["actor"] == ops.email and rows[0]["reason"] == "Correction 20"
    assert rows[0]["balance_after"] == "₩12,310"
    assert f'href="{LEDGER}?wallet={kr_wallet.pk}"' in page
    assert f'href="{WALLETS}{kr_wallet.pk}/adjust/"' in page
    assert {e.wallet_id for e in full.context["cl"].result_list} == {kr_wallet.pk}
    assert other.pk not in {e.wallet_id for e in full.context["cl"].result_list}
    kr_wallet.refresh_from_db()
    assert kr_wallet.balance == 12_310 == ledger_sum(kr_wallet)


def test_ledger_filters_by_kind_and_day_and_searches_reference_and_email(client, kr_wallet, us_wallet):
    client.force_login(staff("ops_admin"))
    _adjust(client, kr_wallet, "500", "Goodwill", direction="debit")
    debit = WalletEntry.objects.get(amount=-500)
    today = debit.created_at.astimezone(dt.timezone(dt.timedelta(hours=9))).date()

    by_kind = client.get(f"{LEDGER}?kind__exact=adjustment&wallet__market__code__exact=US")
    by_reference = client.get(f"{LEDGER}?q={debit.reference}")
    by_email = client.get(f"{LEDGER}?q=jane@example.test")
    by_day = client.get(f"{LEDGER}?created_at_from={today}&created_at_to={today}")
    before = client.get(f"{LEDGER}?created_at_to={today - dt.timedelta(days=1)}")
    page = _text(by_reference)

    assert [e.wallet_id for e in by_kind.context["cl"].result_list] == [us_wallet.pk]
    assert [e.pk for e in by_reference.context["cl"].result_list] == [debit.pk]
    assert [e.wallet_id for e in by_email.context["cl"].result_list] == [us_wallet.pk]
    assert len(by_day.context["cl"].result_list) == 3
    assert list(before.context["cl"].result_list) == []
    assert "-₩500" in page and "₩9,500" in page and "Goodwill" in page


def test_methods_and_charges_show_labels_money_and_outcomes_but_never_the_provider_token(client, kr_wallet):
    client.force_login(staff("ops_admin"))
    method = _method(kr_wallet.user, "KR", label="KB국민", last4="4321")
    failed = _charge(method, kr_wallet, 30_000, status="failed")
    ok = _charge(method, kr_wallet, 20_000)
    entry = WalletEntry.objects.filter(wallet=kr_wallet).first()
    assert entry is not None

    pages = {
        url: _text(client.get(url))
        for url in (
            METHODS,
            f"{METHODS}{method.pk}/change/",
            CHARGES,
            f"{CHARGES}{failed.pk}/change/",
            f"{CHARGES}{ok.pk}/change/",
            f"{CHARGES}?status__exact=failed",
            WALLETS,
            f"{WALLETS}{kr_wallet.pk}/change/",
            f"{WALLETS}{kr_wallet.pk}/adjust/",
            LEDGER,
            f"{LEDGER}{entry.pk}/change/",
        )
    }

    for url, page in pages.items():
        assert TOKEN not in page and "tok_" not in page, url
    assert "KB국민 ****4321" in pages[METHODS]
    assert "KB국민 ****4321" in pages[f"{CHARGES}{failed.pk}/change/"]
    assert "₩30,000" in pages[CHARGES] and "insufficient_funds" in pages[CHARGES]
    assert str(failed.reference) in pages[f"{CHARGES}?status__exact=failed"]
    assert str(ok.reference) not in pages[f"{CHARGES}?status__exact=failed"]
    for query in (TOKEN, "tok_"):  # nor does a search by the token find the method
        assert list(client.get(METHODS, {"q": query}).context["cl"].result_list) == []


# --- No N+1 -------------------------------------------------------------------------------
#: Queries per list page: session, user, the staff member's market scope, two permission
#: lookups, the market filter's choices, the page's count and its rows (member and actor
#: joined in). Pinned: a new query per row or per page shows up here.
LIST_QUERIES = {WALLETS: 8, LEDGER: 8, METHODS: 8, CHARGES: 8}


@pytest.mark.parametrize("url", list(LIST_QUERIES))
def test_list_queries_are_pinned_and_do_not_grow_with_the_rows(client, url):
    cs = staff("cs_agent", market="KR")
    kr = _market("KR")

    def add_rows(count: int) -> None:
        for _ in range(count):
            user = MemberFactory()
            wallet = funded_wallet(user, kr, 1_000)
            method = _method(user, "KR", token=f"tok_{uuid.uuid4()}")
            _charge(method, wallet, 1_000)

    def queries() -> int:
        client.force_login(cs)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    queries()  # warm the per-process market cache
    add_rows(2)
    few = queries()
    add_rows(6)

    assert (few, queries()) == (LIST_QUERIES[url], LIST_QUERIES[url])


@pytest.mark.django_db(transaction=True)
def test_the_same_form_posted_twice_at_once_moves_the_wallet_once(require_postgres):
    """Two requests with one form reference race (a double click): one entry, both answered
    with the wallet page (the loser's insert hits the unique reference and rolls back whole)."""
    import threading

    from django.db import connections
    from django.test import Client

    wallet = funded_wallet(MemberFactory(), _market("KR"), 10_000)
    cs = staff("cs_agent")
    reference = str(uuid.uuid4())
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def post() -> None:
        client = Client()
        client.force_login(cs)
        barrier.wait()
        try:
            response = client.post(
                f"{WALLETS}{wallet.pk}/adjust/",
                {
                    "direction": "credit",
                    "amount": "5000",
                    "reason": "Goodwill",
                    "request_reference": reference,
                },
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [302, 302, 302, 302]
    assert WalletEntry.objects.filter(reference=f"admin-adjustment:{reference}").count() == 1
    assert _snapshot(wallet) == (15_000, 2)
    assert wallet.balance == ledger_sum(wallet)
