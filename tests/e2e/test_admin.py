"""The back office in headless Chromium at 1280 px, per staff role: what the sidebar shows
and hides, lists with product names and formatted money, nothing wider than the window,
the admin in the browser's (then the profile's) language. A full-page screenshot of
every page visited is kept in ``test-results/admin-<role>-<page>.png`` (CI artifact)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from playwright.sync_api import expect
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from apps.catalog.models import Product
from tests.accounts.factories import PASSWORD, MemberFactory, staff
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory
from tests.e2e.conftest import RESULTS
from tests.inventory.factories import StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH = 1280

#: The wallet pages' sidebar items (issue 19), never shown to inventory or marketing.
WALLET_ITEMS = [
    "지갑",
    "지갑 원장",
    "결제 수단",
    "결제 요청",
    "Wallets",
    "Wallet ledger",
    "Payment methods",
    "Charges",
]

#: role -> (login kwargs, sidebar items shown, sidebar items hidden, lists to open)
ROLES = {
    "ops_admin": (
        {},
        [
            "상품",
            "가격",
            "재고 수준",
            "고객",
            "직원 계정",
            "역할",
            "주기 작업",
            "작업 결과",
            "발급된 토큰",
            "아웃박스 이벤트",
            "전송 시도",
        ],
        [],
        [
            "product",
            "price",
            "stock",
            "customers",
            "periodic-tasks",
            "tokens",
            "wallets",
            "wallet-ledger",
            "outbox",
        ],
    ),
    "cs_agent": (
        {},
        ["상품", "고객", "동의 내역"],
        ["가격", "재고 수준", "창고", "직원 계정", "역할", "주기 작업", "발급된 토큰"],
        ["product", "customers", "wallets", "wallet-ledger"],
    ),
    "cs_agent_kr": (
        {"market": "KR"},
        ["상품", "고객", "동의 내역"],
        ["가격", "재고 수준", "직원 계정", "주기 작업"],
        ["product", "customers", "wallets"],
    ),
    "inventory_manager": (
        {},
        ["상품", "재고 수준", "창고"],
        ["가격", "고객", "동의 내역", "직원 계정", "주기 작업", *WALLET_ITEMS],
        ["product", "stock"],
    ),
    "marketing_manager": (
        {},
        ["상품", "가격", "카테고리", "브랜드"],
        ["재고 수준", "창고", "고객", "직원 계정", "주기 작업", "작업 결과", *WALLET_ITEMS],
        ["product", "price"],
    ),
}

LISTS = {
    "product": ("/admin/catalog/product/", ["대나무 칫솔 세트", "₩52,100"]),
    "price": ("/admin/catalog/marketprice/", ["대나무 칫솔 세트", "₩52,100", "US$40.99", "BT-1"]),
    "stock": ("/admin/inventory/stocklevel/", ["대나무 칫솔 세트", "BT-1", "KR-ICN"]),
    "customers": ("/admin/accounts/user/", ["jisoo@example.test"]),
    "periodic-tasks": ("/admin/django_celery_beat/periodictask/", ["Purge idempotency keys", "작업 이름"]),
    "tokens": ("/admin/token_blacklist/outstandingtoken/", ["jisoo@example.test", "만료"]),
    "wallets": ("/admin/payments/wallet/", ["박지수 · jisoo@example.test", "₩25,000"]),
    "wallet-ledger": ("/admin/payments/walletentry/", ["jisoo@example.test", "+₩25,000", "opening credit"]),
    # the seeded wallet credits' events, under the outbox's health
    "outbox": ("/admin/core/outboxevent/", ["wallet.credited", "wallet:", "대기", "가장 오래된 미전송(초)"]),
}


def _seed() -> None:
    brand = BrandFactory(slug="greenday", name_ko="그린데이", name_en="Greenday")
    category = CategoryFactory(slug="bath", name_ko="욕실용품", name_en="Bath")
    product = ProductFactory(
        kr=52100,
        us=4099,
        name_ko="대나무 칫솔 세트",
        name_en="Bamboo toothbrush set",
        code="BT",
        brand=brand,
        category=category,
    )
    Product.objects.filter(pk=product.pk).update(updated_at=dt.datetime(2026, 11, 30, 2, 56, tzinfo=dt.UTC))
    for i in range(12):  # a realistic page of long names
        ProductFactory(
            kr=12900 + i * 1000,
            us=999 + i * 100,
            name_ko=f"프리미엄 유기농 아기 물티슈 캡형 {i + 1}팩 (무향, 저자극)",
            name_en=f"Premium organic baby wipes with cap, pack of {i + 1} (unscented)",
            code=f"WP{i}",
            brand=brand,
            category=category,
        )
    StockLevelFactory(
        sku=product.skus.get(), warehouse=WarehouseFactory(code="KR-ICN", market_id="KR"), on_hand=7
    )
    jisoo = MemberFactory(email="jisoo@example.test", name="박지수")
    OutstandingToken.objects.create(
        user=jisoo, jti="f" * 32, token="e30.e30.sig", expires_at=dt.datetime(2026, 12, 14, tzinfo=dt.UTC)
    )
    every_hour = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(
        name="Purge idempotency keys", task="joopang.core.idempotency_keys_purge", interval=every_hour
    )
    us_shopper = MemberFactory(email="us-shopper@example.test", name="Jane Doe", market_id="US")
    _wallets(jisoo, us_shopper)


def _wallets(jisoo, us_shopper) -> None:  # type: ignore[no-untyped-def]
    """Jisoo's KR wallet with ₩25,000 and Jane's US wallet with $12.50, through the service."""
    from apps.markets.models import Market
    from apps.payments import services

    ops = staff("ops_admin", email="ops-funding@staff.test")
    for user, code, amount in ((jisoo, "KR", 25_000), (us_shopper, "US", 1_250)):
        services.wallet_adjust(
            user=user,
            market=Market.objects.get(code=code),
            amount=amount,
            reason="opening credit",
            actor=ops,
            reference=f"e2e:{user.email}",
        )


def _log_in(page, base: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/admin/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.locator("form#login-form button[type=submit], form button[type=submit]").first.click()
    page.wait_for_url(base + "/admin/")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A full-page screenshot. unfold scrolls the list and the sidebar inside the window,
    so the window is made as tall as their content first (then put back)."""
    RESULTS.mkdir(exist_ok=True)
    height = page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight,
              ...[...document.querySelectorAll('.simplebar-content-wrapper, #nav-sidebar-apps')]
                 .map(e => e.scrollHeight + e.getBoundingClientRect().top + 80))"""
    )
    page.set_viewport_size({"width": WIDTH, "height": max(900, min(int(height), 6000))})
    # let the resized layout paint (two animation frames) rather than sleeping a fixed time
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(RESULTS / f"admin-{name}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": 900})


def _assert_fits(page, what: str) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{what}: page is {width} px wide"
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('#result_list, #changelist table')]
               .filter(t => t.scrollWidth > t.parentElement.clientWidth + 1)
               .map(t => t.id || t.className)"""
    )
    assert clipped == [], f"{what}: table wider than its box: {clipped}"


def _sidebar_text(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("#nav-sidebar-apps").inner_text()


@pytest.mark.parametrize("role", list(ROLES))
def test_each_staff_role_sees_its_sidebar_and_readable_lists(page, live_server, role):
    _seed()
    kwargs, shown, hidden, lists = ROLES[role]
    user = staff(role.removesuffix("_kr"), email=f"{role}@staff.test", **kwargs)
    problems: list[str] = []  # script errors and Content-Security-Policy refusals
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    _log_in(page, live_server.url, user.email)

    assert page.locator("html").get_attribute("lang") == "ko"
    assert "주팡 관리자" in page.locator("#nav-sidebar-inner").inner_text()
    sidebar = _sidebar_text(page)
    for item in shown:
        assert item in sidebar, (role, item)
    for item in hidden:
        assert item not in sidebar.split("\n"), (role, item)
    assert ("연동" in sidebar) == (role == "ops_admin")  # the outbox pages are operations' only
    _assert_fits(page, f"{role} dashboard")
    _shot(page, f"{role}-dashboard")

    for name in lists:
        url, expected = LISTS[name]
        response = page.goto(live_server.url + url)
        assert response is not None and response.status == 200, (role, url)
        assert "script-src" in response.headers.get("content-security-policy", "")  # under the CSP
        content = page.locator("#content").inner_text()
        for text in expected:
            assert text in content, (role, name, text)
        if role == "cs_agent_kr" and name in ("customers", "wallets"):  # scoped to KR customers
            assert "us-shopper@example.test" not in content
        _assert_fits(page, f"{role} {name}")
        _shot(page, f"{role}-{name}")

    # unfold's Alpine.js runs under the site's CSP: the filter sheet opens
    page.goto(live_server.url + "/admin/catalog/product/")
    page.locator("#content a", has_text="필터").first.click()
    # Alpine opens the sheet after the click: wait for it (is_visible() does not wait)
    expect(page.get_by_role("button", name="필터 적용")).to_be_visible()
    assert problems == []


def test_product_list_rows_are_one_line_high_and_times_carry_the_zone(page, live_server):
    _seed()
    _log_in(page, live_server.url, staff("ops_admin", email="ops@staff.test").email)

    page.goto(live_server.url + "/admin/catalog/product/")

    heights = page.evaluate(
        "() => [...document.querySelectorAll('#result_list tbody tr')].map(r => r.getBoundingClientRect().height)"
    )
    assert len(heights) == 13 and max(heights) < 80, heights  # one or two lines, never a column of letters
    row = page.locator("#result_list tbody tr", has_text="대나무 칫솔 세트")
    assert "₩52,100 · US$40.99" in row.inner_text()
    assert "2026. 11. 30. 오전 11:56 KST" in row.inner_text()
    name_cell = row.locator("th, td").filter(has_text="대나무 칫솔 세트").first
    assert name_cell.bounding_box()["width"] > 120  # not squeezed to a character


def test_a_role_gets_the_admin_403_page_with_a_way_back(page, live_server):
    _seed()
    _log_in(page, live_server.url, staff("cs_agent", email="cs@staff.test").email)

    response = page.goto(live_server.url + "/admin/inventory/stocklevel/")

    assert response is not None and response.status == 403
    assert page.locator("#admin-403").is_visible()
    assert "재고 수준" not in _sidebar_text(page)
    _shot(page, "cs_agent-403")
    page.get_by_role("link", name="관리자 홈으로 돌아가기").click()
    page.wait_for_url(live_server.url + "/admin/")


def test_cs_user_page_shows_no_password_reset(page, live_server):
    _seed()
    _log_in(page, live_server.url, staff("cs_agent", email="cs@staff.test").email)

    page.goto(live_server.url + "/admin/accounts/user/")
    page.get_by_role("link", name="jisoo@example.test").click()
    # wait_for_load_state() returns at once on the still-loaded list: wait for the change page
    page.wait_for_url(re.compile(r"/admin/accounts/user/[^/]+/change/"))

    content = page.locator("#content").inner_text()
    assert "jisoo@example.test" in content
    assert page.locator("a[href$='/password/']").count() == 0
    assert page.locator("button[name=_save], input[name=_save]").count() == 0
    _shot(page, "cs_agent-customer")


def test_login_page_and_admin_follow_the_browser_then_the_profile_language(browser, live_server):
    _seed()
    ops = staff("ops_admin", email="ops.en@staff.test")
    type(ops).objects.filter(pk=ops.pk).update(locale="en")

    for locale, title in (("ko-KR", "주팡 관리자"), ("en-US", "Joopang back office")):
        context = browser.new_context(locale=locale, viewport={"width": WIDTH, "height": 900})
        page = context.new_page()
        page.goto(live_server.url + "/admin/login/")
        assert page.locator("html").get_attribute("lang") == locale[:2]
        assert title in page.content()
        _shot(page, f"login-{locale[:2]}")
        context.close()

    # an English staff member in a Korean browser works in English
    context = browser.new_context(locale="ko-KR", viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    _log_in(page, live_server.url, ops.email)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Catalog and pricing" in _sidebar_text(page)
    page.goto(live_server.url + "/admin/catalog/marketprice/")
    content = page.locator("#content").inner_text()
    assert "Bamboo toothbrush set" in content and "$40.99" in content and "₩52,100" in content
    _assert_fits(page, "ops_admin en price")
    _shot(page, "ops_admin_en-price")
    context.close()


def test_inventory_manager_reads_the_ledger_and_transfers_stock(page, live_server):
    from apps.inventory.models import StockLevel, StockMovement
    from tests.inventory.factories import stocked_sku

    _seed()
    code = stocked_sku({"KR-ICN1": 12, "KR-BSN1": 3})
    user = staff("inventory_manager", email="inv@staff.test")
    _log_in(page, live_server.url, user.email)

    page.goto(live_server.url + "/admin/inventory/stockmovement/")
    assert code in page.locator("#result_list").inner_text()
    _assert_fits(page, "ledger")
    _shot(page, "inventory_manager-ledger")

    page.goto(live_server.url + "/admin/inventory/stocklevel/transfer/")
    page.fill("#id_sku_code", code)
    levels = {
        lv.warehouse.code: lv for lv in StockLevel.objects.filter(sku__code=code).select_related("warehouse")
    }
    page.select_option("#id_from_warehouse", value=str(levels["KR-ICN1"].warehouse_id))
    page.select_option("#id_to_warehouse", value=str(levels["KR-BSN1"].warehouse_id))
    page.fill("#id_quantity", "5")
    page.fill("#id_reason", "세일 전 재배치")
    _assert_fits(page, "transfer form")
    _shot(page, "inventory_manager-transfer")
    page.locator("#stock-form button[type=submit]").click()
    # the form page names KR-BSN1 too: wait for the redirect to the stock list before reading
    page.wait_for_url(re.compile(r"/admin/inventory/stocklevel/\?q="))

    assert "KR-BSN1" in page.locator("body").inner_text()
    legs = StockMovement.objects.filter(actor=user).order_by("id")
    assert [(m.kind, m.delta) for m in legs] == [("transfer_out", -5), ("transfer_in", 5)]
    on_hand = dict(StockLevel.objects.filter(sku__code=code).values_list("warehouse__code", "on_hand"))
    assert on_hand == {"KR-ICN1": 7, "KR-BSN1": 8}


def test_cs_agent_adjusts_a_wallet_within_the_limit_and_sees_the_ledger(page, live_server):
    from apps.markets.models import Market
    from apps.payments.models import Wallet, WalletEntry

    _seed()
    Market.objects.filter(code="KR").update(wallet_adjustment_limit=50_000)
    user = staff("cs_agent", email="cs-wallet@staff.test", market="KR")
    wallet = Wallet.objects.get(user__email="jisoo@example.test")
    _log_in(page, live_server.url, user.email)

    page.goto(live_server.url + "/admin/payments/wallet/")
    page.locator("#result_list a", has_text="jisoo@example.test").click()
    page.wait_for_url(re.compile(rf"/admin/payments/wallet/{wallet.pk}/change/"))
    expect(page.locator("#wallet-ledger")).to_contain_text("opening credit")
    _assert_fits(page, "wallet page")
    _shot(page, "cs_agent-wallet")

    page.locator("#wallet-adjust").click()
    page.wait_for_url(re.compile(rf"/admin/payments/wallet/{wallet.pk}/adjust/"))
    expect(page.locator("#wallet-adjust-limit")).to_have_text("₩50,000")
    page.fill("#id_amount", "60000")
    page.fill("#id_reason", "배송 지연 보상")
    page.locator("#wallet-adjust-form button[type=submit]").click()
    expect(page.locator("#wallet-adjust-errors")).to_be_visible()  # above the CS limit
    assert WalletEntry.objects.filter(wallet=wallet).count() == 1

    page.fill("#id_amount", "5,000")
    page.fill("#id_reason", "배송 지연 보상")
    _assert_fits(page, "adjust form")
    _shot(page, "cs_agent-wallet-adjust")
    page.locator("#wallet-adjust-form button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/admin/payments/wallet/{wallet.pk}/change/$"))

    expect(page.locator("#wallet-ledger")).to_contain_text("+₩5,000")
    expect(page.locator("#wallet-ledger")).to_contain_text("배송 지연 보상")
    wallet.refresh_from_db()
    entry = WalletEntry.objects.filter(wallet=wallet).latest("id")
    assert (entry.amount, entry.actor, entry.reason, wallet.balance) == (
        5_000,
        user,
        "배송 지연 보상",
        30_000,
    )
