"""The back office (issue 15) through Django's test client: read-only tables, no button a
role cannot use, the admin's own 403 page, the customer list, times in the market's zone,
the admin's language, role names and the per-role sidebar."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django_celery_results.models import GroupResult, TaskResult
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.accounts.models import Consent, RoleChange
from apps.catalog.models import Product, ProductSalesDaily
from tests.accounts.factories import MemberFactory, UserFactory, staff, system_client
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

READ_ONLY_MODELS = (
    OutstandingToken,
    BlacklistedToken,
    TaskResult,
    GroupResult,
    ProductSalesDaily,
    RoleChange,
    Consent,
    Group,
)


def _url(model: type, view: str, *args: object) -> str:
    from django.urls import reverse

    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


# --- Read-only tables ---------------------------------------------------------------
@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=lambda m: m._meta.label)
def test_derived_and_security_tables_are_read_only_even_for_ops_and_superusers(client, model):
    ops = staff("ops_admin")
    root = UserFactory(email="root@staff.test", is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[model]

    for user in (ops, root):
        client.force_login(user)
        request = type("R", (), {"user": user, "method": "GET"})()
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, None)
        assert not model_admin.has_delete_permission(request, None)
        listing = client.get(_url(model, "changelist"))
        assert listing.status_code == 200, (user, model)
        assert _url(model, "add") not in _text(listing)  # no "add" button
        assert client.get(_url(model, "add")).status_code == 403


def test_a_blacklisted_token_cannot_be_deleted_through_the_admin(client):
    # given an issued and blacklisted token
    user = MemberFactory()
    token = OutstandingToken.objects.create(
        user=user, jti="a" * 32, token="x.y.z", expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    )
    blacklisted = BlacklistedToken.objects.create(token=token)
    client.force_login(UserFactory(email="root@staff.test", is_staff=True, is_superuser=True))

    # when a superuser posts its delete confirmation and a change
    delete = client.post(_url(BlacklistedToken, "delete", blacklisted.pk), {"post": "yes"})
    change = client.post(_url(OutstandingToken, "change", token.pk), {"jti": "b" * 32})

    # then both are refused and nothing changed
    assert delete.status_code == 403
    assert change.status_code == 403
    assert BlacklistedToken.objects.filter(pk=blacklisted.pk).exists()
    token.refresh_from_db()
    assert token.jti == "a" * 32


# --- No button a role cannot use ----------------------------------------------------
def test_cs_user_page_has_no_reset_password_nor_any_button_cs_cannot_use(client):
    cs = staff("cs_agent")
    customer = MemberFactory(email="shopper@example.test")
    client.force_login(cs)

    response = client.get(_url(type(customer), "change", customer.pk))

    html = _text(response)
    assert response.status_code == 200
    assert "shopper@example.test" in html
    assert "../password/" not in html and "/password/" not in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert _url(type(customer), "delete", customer.pk) not in html
    # and the link they would have clicked is refused anyway
    assert client.get(f"/admin/accounts/user/{customer.pk}/password/").status_code == 403


def test_ops_user_page_keeps_the_password_form_link(client):
    ops = staff("ops_admin")
    customer = MemberFactory()
    client.force_login(ops)

    html = _text(client.get(_url(type(customer), "change", customer.pk)))

    assert "../password/" in html
    assert 'name="_save"' in html


# --- 403 inside the admin -----------------------------------------------------------
def test_a_403_inside_the_admin_is_an_admin_page_with_a_way_back(client):
    client.force_login(staff("cs_agent"))

    response = client.get("/admin/catalog/marketprice/")

    html = _text(response)
    assert response.status_code == 403
    assert 'id="admin-403"' in html
    assert 'href="/admin/"' in html
    assert "관리자 홈으로 돌아가기" in html  # the staff member's language (profile: ko)
    assert 'id="nav-sidebar' in html  # the admin's layout, not the storefront's
    assert "주팡 관리자" in html


@pytest.mark.parametrize("debug", [False, True])
def test_a_csrf_failure_on_the_admin_login_is_the_admin_403_not_a_500(debug, settings):
    # Before signing in there is no user for unfold's sidebar avatar: rendering it was a
    # template error (500) for any POST to /admin/login/ without the CSRF cookie.
    from django.test import Client

    settings.DEBUG = debug
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)

    response = client.post("/admin/login/", {"username": "a@b.test", "password": "x"})

    html = _text(response)
    assert response.status_code == 403
    assert 'id="admin-403"' in html
    assert 'id="nav-sidebar' not in html
    assert response["X-Request-ID"]


def test_a_403_outside_the_admin_stays_the_storefront_page(client):
    from django.core.exceptions import PermissionDenied
    from django.test import RequestFactory

    from joopang.errorpages import permission_denied

    request = RequestFactory().get("/accounts/profile/")
    request.user = MemberFactory()
    response = permission_denied(request, PermissionDenied())

    assert response.status_code == 403
    assert 'id="admin-403"' not in _text(response)


# --- Customers first ----------------------------------------------------------------
def test_customer_list_shows_members_only_by_default_and_others_behind_the_filter(client):
    ops = staff("ops_admin", email="ops@staff.test")
    MemberFactory(email="shopper@example.test")
    sc, _secret = system_client("warehouse feed")
    client.force_login(ops)

    def listed(query: str) -> set[str]:
        response = client.get("/admin/accounts/user/" + query)
        assert response.status_code == 200
        return {user.email for user in response.context["cl"].result_list}

    assert listed("") == {"shopper@example.test"}
    assert listed("?account=staff") == {"ops@staff.test"}
    assert listed("?account=system") == {sc.user.email}
    assert listed("?account=all") == {"shopper@example.test", "ops@staff.test", sc.user.email}


def test_role_codes_are_shown_by_their_localized_names(client):
    ops = staff("ops_admin", email="ops@staff.test")
    staff("cs_agent", email="cs@staff.test")
    client.force_login(ops)

    staff_list = _text(client.get("/admin/accounts/user/?account=staff"))
    roles_list = _text(client.get("/admin/auth/group/"))

    assert "CS 상담원" in staff_list and "운영 관리자" in staff_list
    assert "CS 상담원" in roles_list and "재고 관리자" in roles_list and "마케팅 관리자" in roles_list


# --- Times in the market's zone, with the zone --------------------------------------
def _product_updated_at(utc: dt.datetime) -> Product:
    product = ProductFactory(kr=52100, us=4099, name_ko="대나무 칫솔", name_en="Bamboo toothbrush")
    Product.objects.filter(pk=product.pk).update(updated_at=utc)
    return product


def test_times_are_shown_in_the_market_zone_with_the_zone(client):
    _product_updated_at(dt.datetime(2026, 11, 30, 2, 56, tzinfo=dt.UTC))

    client.force_login(staff("ops_admin"))  # profile market KR
    seoul = _text(client.get("/admin/catalog/product/"))
    client.force_login(staff("cs_agent", market="US", email="cs.us@staff.test"))  # scoped to US
    new_york = _text(client.get("/admin/catalog/product/"))

    assert "2026. 11. 30. 오전 11:56 KST" in seoul
    assert "2026. 11. 29. 오후 9:56 EST" in new_york


def test_request_market_decides_the_zone_for_unscoped_staff(client):
    _product_updated_at(dt.datetime(2026, 11, 30, 2, 56, tzinfo=dt.UTC))
    client.force_login(staff("ops_admin"))

    by_header = _text(client.get("/admin/catalog/product/", HTTP_X_MARKET="US"))
    by_query = client.get("/admin/catalog/product/?market=US&lang=en")

    assert "오후 9:56 EST" in by_header
    assert by_query.status_code == 200  # not taken for a filter (?e=1)
    assert "2026. 11. 29. 오후 9:56 EST" in _text(by_query)  # the profile's language still wins


# --- Money and names in the lists ---------------------------------------------------
def test_price_and_stock_lists_name_the_product_and_format_money(client):
    product = ProductFactory(kr=52100, us=4099, name_ko="대나무 칫솔", name_en="Bamboo toothbrush", code="BT")
    StockLevelFactory(sku=product.skus.get(), warehouse=WarehouseFactory(code="KR-ICN"), on_hand=7)
    client.force_login(staff("ops_admin"))

    prices = _text(client.get("/admin/catalog/marketprice/"))
    stock = _text(client.get("/admin/inventory/stocklevel/"))
    products = _text(client.get("/admin/catalog/product/"))

    assert "대나무 칫솔" in prices and "₩52,100" in prices and "US$40.99" in prices
    assert ">52100<" not in prices and ">4099<" not in prices
    assert "대나무 칫솔" in stock and "BT-1" in stock
    assert "대나무 칫솔" in products and "₩52,100 · US$40.99" in products


# --- Language -----------------------------------------------------------------------
def test_login_page_follows_the_browser_language_not_the_storefront_cookie(client):
    client.cookies["joopang_lang"] = "ko"

    english = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    korean = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")

    assert english["Content-Language"] == "en"
    assert "Joopang back office" in _text(english) and "주팡 관리자" not in _text(english)
    assert korean["Content-Language"] == "ko"
    assert "주팡 관리자" in _text(korean) and "다시 오신 것을 환영합니다" in _text(korean)
    assert "Welcome back to" not in _text(korean)
    assert "Django" not in re.sub(r"<script.*?</script>", "", _text(korean), flags=re.S)


def test_signed_in_staff_work_in_their_profile_language(client):
    ops = staff("ops_admin")
    type(ops).objects.filter(pk=ops.pk).update(locale="en")
    client.force_login(ops)

    response = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ko")

    assert response["Content-Language"] == "en"
    assert "Catalog and pricing" in _text(response)


def test_third_party_sections_are_in_korean(client):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_hour = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(
        name="purge keys", task="joopang.core.idempotency_keys_purge", interval=every_hour
    )
    TaskResult.objects.create(
        task_id="t-1", task_name="joopang.core.idempotency_keys_purge", status="SUCCESS"
    )
    client.force_login(staff("ops_admin"))

    home = _text(client.get("/admin/"))
    tasks = _text(client.get("/admin/django_celery_beat/periodictask/"))
    tokens = _text(client.get("/admin/token_blacklist/outstandingtoken/"))
    results = _text(client.get("/admin/django_celery_results/taskresult/"))

    for word in ("주기 작업", "작업 결과", "발급된 토큰", "차단된 토큰", "운영", "카탈로그·가격"):
        assert word in home, word
    assert "보기위한" not in tokens and "조회할 발급된 토큰 선택" in tokens
    assert "작업 이름" in tasks
    assert "작업 상태" in results and "Task State" not in results
    assert "Interval Schedule" not in tasks and "Celery Results" not in home


def test_list_headers_and_crontab_help_have_no_english_leftovers(client):
    # Columns named after fields without a translated verbose name ("User", "Jti",
    # "Product", "Market") and celery-beat's crontab help (its Korean entries are fuzzy).
    from django.utils import timezone

    member = MemberFactory()
    OutstandingToken.objects.create(
        user=member, jti="j-1", token="t", expires_at=timezone.now() + dt.timedelta(days=1)
    )
    ProductSalesDaily.objects.create(
        product=ProductFactory(), market_id="KR", date=dt.date(2026, 11, 30), units=3
    )
    client.force_login(staff("ops_admin"))

    tokens = _text(client.get("/admin/token_blacklist/outstandingtoken/"))
    sales = _text(client.get("/admin/catalog/productsalesdaily/"))
    crontab = _text(client.get("/admin/django_celery_beat/crontabschedule/add/"))

    for header in ("User", "Jti"):
        assert f">{header}<" not in tokens.replace(" ", "").replace("\n", ""), header
    assert "사용자" in tokens and "토큰 ID" in tokens
    for header in ("Product", "Market"):
        assert f">{header}<" not in sales.replace(" ", "").replace("\n", ""), header
    assert "상품" in sales and "마켓" in sales
    for leftover in ("Of The Year to Run", "Days Of The Week", "Sunday is", "Cron 의", "Timezone to Run"):
        assert leftover not in crontab, leftover
    assert "일요일은 0 또는 7" in crontab


def test_admin_messages_read_as_natural_korean(client):
    # Django's own Korean: "이메일 주소 와 비밀번호를 입력해주세요. 대소문자를 구분해서 입력해주세요."
    # (a space before the particle, and emails are not case-sensitive here), "아래 오류들을
    # 수정하기 바랍니다.", "<strong>x</strong> 새로운 비밀번호를 입력하세요." (no particle).
    failed = _text(
        client.post(
            "/admin/login/", {"username": "nobody@joopang.test", "password": "x"}, HTTP_ACCEPT_LANGUAGE="ko"
        )
    )
    assert "직원 계정의 이메일 주소와 비밀번호를 정확히 입력해 주세요." in failed
    assert "아래 오류를 고쳐 주세요." in failed
    assert "주소 와" not in failed and "수정하기 바랍니다" not in failed

    client.force_login(staff("ops_admin"))
    customer = MemberFactory()
    password_page = _text(client.get(f"/admin/accounts/user/{customer.pk}/password/"))
    assert "사용자의 새 비밀번호를 입력하세요." in password_page


# --- Sidebar per role ---------------------------------------------------------------
#: role -> (groups shown, items shown, items hidden); every role reads the markets.
SIDEBAR = {
    "ops_admin": (
        {"카탈로그·가격", "재고", "고객", "주문·결제", "쿠폰", "리포트", "연동", "운영"},
        {
            "상품",
            "가격",
            "재고 수준",
            "고객",
            "쿠폰 캠페인",
            "쿠폰",
            "쿠폰 사용 내역",
            "직원 계정",
            "역할",
            "주기 작업",
            "작업 결과",
            "아웃박스 이벤트",
            "실패한 이벤트",
            "전송 시도",
            "발급된 토큰",
            "일별 매출",
            "일별 쿠폰 사용",
        },
        set(),
    ),
    "cs_agent": (
        {"카탈로그·가격", "고객", "주문·결제", "쿠폰", "운영"},
        {"상품", "고객", "동의 내역", "마켓", "주문", "지갑", "쿠폰 캠페인", "쿠폰", "쿠폰 사용 내역"},
        {
            "가격",
            "재고 수준",
            "창고",
            "직원 계정",
            "역할",
            "주기 작업",
            "발급된 토큰",
            "일별 매출",
            "일별 쿠폰 사용",
        },
    ),
    "inventory_manager": (
        {"카탈로그·가격", "재고", "운영"},
        {"상품", "SKU", "재고 수준", "창고", "마켓"},
        {
            "가격",
            "고객",
            "동의 내역",
            "직원 계정",
            "주기 작업",
            "주문",
            "지갑",
            "쿠폰 캠페인",
            "쿠폰 사용 내역",
            "일별 매출",
            "일별 쿠폰 사용",
        },
    ),
    "marketing_manager": (
        {"카탈로그·가격", "쿠폰", "리포트", "운영"},
        {
            "상품",
            "SKU",
            "가격",
            "카테고리",
            "브랜드",
            "마켓",
            "쿠폰 캠페인",
            "쿠폰",
            "쿠폰 사용 내역",
            "일별 쿠폰 사용",
        },
        {"재고 수준", "창고", "고객", "직원 계정", "주기 작업", "작업 결과", "주문", "지갑", "일별 매출"},
    ),
}


def _sidebar(html: str) -> tuple[set[str], set[str]]:
    nav = html.split('id="nav-sidebar-apps"', 1)[1].split("</nav>", 1)[0]
    groups = {title.strip() for title in re.findall(r"<h2[^>]*>\s*([^<]+?)\s*<", nav)}
    items = {title.strip() for title in re.findall(r"<span>\s*([^<]+?)\s*</span>", nav)}
    return groups, items


@pytest.mark.parametrize("role", sorted(SIDEBAR))
def test_sidebar_shows_a_role_only_what_its_grants_allow(client, role):
    groups_shown, shown, hidden = SIDEBAR[role]
    client.force_login(staff(role))

    html = _text(client.get("/admin/"))

    groups, items = _sidebar(html)
    assert groups == groups_shown
    assert shown <= items, items
    assert not hidden & items, items
    assert ("연동" in groups) == (role == "ops_admin")  # the outbox pages are operations' only


def test_sidebar_links_only_to_lists_the_role_may_open(client):
    client.force_login(staff("marketing_manager"))
    html = _text(client.get("/admin/"))
    nav = html.split('id="nav-sidebar-apps"', 1)[1].split("</nav>", 1)[0]

    links = set(re.findall(r'href="(/admin/[^"]*)"', nav))

    assert "/admin/catalog/marketprice/" in links
    assert "/admin/inventory/stocklevel/" not in links
    for link in links:
        assert client.get(link).status_code == 200, link


# --- unfold's user forms ------------------------------------------------------------
def test_ops_adds_a_customer_and_sets_a_password_with_unfolds_forms(client):
    client.force_login(staff("ops_admin"))

    add_page = client.get("/admin/accounts/user/add/")
    created = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new.shopper@example.test",
            "name": "새 고객",
            "market": "KR",
            "locale": "ko",
            "password1": "Jeju-Island-2026",
            "password2": "Jeju-Island-2026",
        },
    )
    from apps.accounts.models import User

    user = User.objects.get(email="new.shopper@example.test")
    password_page = client.get(f"/admin/accounts/user/{user.pk}/password/")
    changed = client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "Busan-Harbor-2026", "password2": "Busan-Harbor-2026", "usable_password": "true"},
    )

    assert add_page.status_code == 200 and created.status_code == 302
    assert password_page.status_code == 200
    assert type(password_page.context["form"]).__module__ == "unfold.forms"
    assert changed.status_code == 302
    user.refresh_from_db()
    assert user.check_password("Busan-Harbor-2026")
    assert (user.name, user.market_id, user.is_staff) == ("새 고객", "KR", False)


# --- No N+1 in the lists ------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "/admin/catalog/product/",
        "/admin/catalog/marketprice/",
        "/admin/catalog/sku/",
        "/admin/inventory/stocklevel/",
        "/admin/accounts/user/",
        "/admin/accounts/consent/",
    ],
)
def test_list_queries_do_not_grow_with_the_rows(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import Consent

    client.force_login(staff("ops_admin"))
    warehouse = WarehouseFactory(code="KR-ICN")

    def add_rows(count: int) -> None:
        for _ in range(count):
            product = ProductFactory(kr=52100, us=4099)
            StockLevelFactory(sku=product.skus.get(), warehouse=warehouse)
            member = MemberFactory()
            Consent.objects.create(user=member, kind="terms", document_version="2026-01", granted=True)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    add_rows(2)
    few = queries()
    add_rows(6)

    assert queries() == few


def test_market_list_shows_tax_rates_as_plain_percentages(client):
    client.force_login(staff("ops_admin"))

    markets = _text(client.get("/admin/markets/market/"))

    assert ">10%<" in markets and ">8%<" in markets  # KR VAT, the US default rate (seed)
    assert "0000%" not in markets
