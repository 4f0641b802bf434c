"""Checkout in a real browser (issue 20, "Show"): a member with a funded wallet adds an item
to the cart, checks out, sees PAID on the confirmation and the order, opens the KR e-receipt,
cancels, sees CANCELLED and the refund in the wallet ledger; in Korean (won) and once in
English (dollars). axe-core finds nothing serious; no sideways scroll at 390 px; the pay
button is on the first screen of a 390 x 844 phone. Screenshots: /tmp/checkout-ko.png,
/tmp/checkout-390.png, /tmp/receipt-ko.png (and the English ones), copied to test-results/.

The flow asserts language-independent things (status codes in ``data-status``, amounts, ids);
the Korean words of the order pages are checked by ``test_the_order_pages_speak_korean``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.markets.models import Market
from apps.markets.services import markets_cache_clear
from apps.orders.models import Order
from apps.payments.models import Wallet, WalletEntry
from tests.accounts.factories import PASSWORD, MemberFactory
from tests.carts.factories import stocked
from tests.e2e.conftest import RESULTS
from tests.payments.factories import funded_wallet, ledger_sum

pytestmark = pytest.mark.django_db(transaction=True)

SERIOUS = ("serious", "critical")

CASES = {
    # price 12,900 won + 3,000 shipping, VAT included; $9.99 + 8 % tax ($0.80) + $5.99 shipping
    "ko": {
        "market": "KR",
        "price": {"kr": 12900, "us": 999},
        "funds": 100_000,
        "total": "₩15,900",
        "refund": "+₩15,900",
        "email": "이메일",
        "password": "비밀번호",
        "address": {
            "recipient": "김민지",
            "line1": "세종대로 110",
            "city": "서울",
            "postal_code": "04524",
            "country": "KR",
        },
    },
    "en": {
        "market": "US",
        "price": {"kr": 12900, "us": 999},
        "funds": 10_000,
        "total": "$16.78",
        "refund": "+$16.78",
        "email": "Email",
        "password": "Password",
        "address": {
            "recipient": "Jane Doe",
            "line1": "1 Main Street",
            "city": "Newark",
            "region": "NJ",
            "postal_code": "07102",
            "country": "US",
        },
    },
}


@pytest.fixture
def markets() -> None:
    Market.objects.filter(code="KR").update(
        shipping_fee=3000, free_shipping_threshold=19800, tax_rate="0.1000", e_receipt_required=True
    )
    Market.objects.filter(code="US").update(shipping_fee=599, free_shipping_threshold=3500, tax_rate="0.0800")
    markets_cache_clear()


def _context(browser: Any, live_server: Any, *, language: str, width: int, height: int = 900) -> Any:
    context = browser.new_context(
        locale="ko-KR" if language == "ko" else "en-US", viewport={"width": width, "height": height}
    )
    context.add_cookies(
        [
            {"name": "joopang_lang", "value": language, "url": live_server.url},
            {"name": "joopang_market", "value": CASES[language]["market"], "url": live_server.url},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _axe(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def _no_overflow(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _shot(page: Any, name: str, *, full_page: bool = True) -> None:
    target = Path("/tmp") / f"{name}.png"
    page.screenshot(path=str(target), full_page=full_page)
    RESULTS.mkdir(exist_ok=True)
    shutil.copy(target, RESULTS / target.name)


@pytest.mark.parametrize("language", list(CASES))
def test_a_member_buys_from_the_cart_with_the_wallet_cancels_and_sees_the_refund(
    browser, live_server, markets, language
):
    case = CASES[language]
    market = Market.objects.get(code=case["market"])
    member = MemberFactory(
        email=f"checkout.{language}@example.test",
        locale=language,
        market_id=case["market"],
        default_address=case["address"],
    )
    wallet = funded_wallet(member, market, case["funds"])
    product, _sku = stocked(
        **case["price"], stock={case["market"]: 5}, name_ko="제주 감귤 3kg", name_en="Jeju Tangerines 3 kg"
    )
    page = _context(browser, live_server, language=language, width=1280)
    base = live_server.url
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        assert page.locator("html").get_attribute("lang") == language, name
        found = _axe(page)
        if not _no_overflow(page):
            found.append(f"horizontal overflow at {page.viewport_size['width']} px")
        if found:
            problems[name] = found

    try:
        # 1. sign in, then put the product in the cart
        product_url = f"/p/{product.pk}/{product.slug}/"
        page.goto(base + f"/accounts/login/?next={product_url}")
        page.get_by_label(case["email"]).fill(member.email)
        page.get_by_label(case["password"]).fill(PASSWORD)
        page.locator("form.account-form button[type=submit]").click()
        page.wait_for_url(base + product_url)
        page.locator("#add-to-cart button[type=submit]").click()
        page.wait_for_url(base + "/cart/")

        # 2. the cart's checkout button: one screen with the lines, the saved address, totals
        page.locator("#checkout-button").click()
        page.wait_for_url(base + "/checkout/")
        expect(page.locator("#total-total")).to_have_text(case["total"])
        expect(page.locator("#checkout-lines .item-row")).to_have_count(1)
        expect(page.locator("#address-summary")).to_contain_text(case["address"]["line1"])
        expect(page.locator("input[name=payment][value=wallet]")).to_be_checked()
        expect(page.locator("#wallet-short")).to_have_count(0)
        expect(page.locator("#pay-button")).to_contain_text(case["total"])
        check("checkout")
        _shot(page, f"checkout-{language}")
        page.set_viewport_size({"width": 390, "height": 844})
        check("checkout-390")
        _shot(page, "checkout-390" if language == "ko" else f"checkout-390-{language}", full_page=False)
        box = page.locator("#pay-button").bounding_box()
        assert box is not None and box["height"] >= 44
        assert box["y"] + box["height"] <= 844, f"the pay button is below the first screen: {box}"
        page.set_viewport_size({"width": 1280, "height": 900})

        # 3. pay: the confirmation says PAID, the order too
        page.locator("#pay-button").click()
        page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}/complete/$"))
        order = Order.objects.get(user=member)
        expect(page.locator(".complete-status .status-badge")).to_have_attribute("data-status", "paid")
        expect(page.locator("#order-number")).to_have_text(order.number)
        expect(page.locator("#order-total")).to_have_text(case["total"])
        check("complete")
        page.locator("#order-link").click()
        page.wait_for_url(base + f"/orders/{order.public_id}/")
        expect(page.locator(".detail-head .status-badge")).to_have_attribute("data-status", "paid")
        check("detail-paid")

        # 4. the KR e-receipt (a US order has none)
        if language == "ko":
            page.locator("#receipt-link").click()
            page.wait_for_url(base + f"/orders/{order.public_id}/receipt/")
            expect(page.locator("#receipt-total")).to_have_text("₩15,900")
            expect(page.locator("#receipt-vat")).to_have_text("₩1,445")
            expect(page.locator("#receipt-supply")).to_have_text("₩14,455")
            expect(page.locator("#print-button")).to_be_visible()
            check("receipt")
            _shot(page, "receipt-ko")
            page.go_back()
            page.wait_for_url(base + f"/orders/{order.public_id}/")
        else:
            expect(page.locator("#receipt-link")).to_have_count(0)

        # 5. cancel: CANCELLED, the refund on the order and in the wallet's ledger
        page.locator("#id_reason").fill("changed my mind")
        page.locator("#cancel-button").click()
        expect(page.locator(".detail-head .status-badge")).to_have_attribute("data-status", "cancelled")
        expect(page.locator("main .messages .message.success")).to_contain_text(case["total"])
        expect(page.locator("#refunds li")).to_have_count(1)
        expect(page.locator("#cancel-button")).to_have_count(0)
        steps = page.locator("#timeline .timeline-step")
        expect(steps).to_have_count(3)
        assert [steps.nth(i).get_attribute("data-status") for i in range(3)] == [
            "pending",
            "paid",
            "cancelled",
        ]
        check("detail-cancelled")
        page.set_viewport_size({"width": 390, "height": 844})
        check("detail-cancelled-390")
        _shot(page, f"order-detail-{language}")
        page.set_viewport_size({"width": 1280, "height": 900})

        page.locator("#wallet-link").click()
        page.wait_for_url(base + "/wallet/")
        first = page.locator("#ledger .ledger-row").first
        expect(first.locator(".ledger-amount.credit")).to_have_text(case["refund"])

        # 6. the history lists it
        page.locator("#orders-link").click()
        page.wait_for_url(base + "/orders/")
        expect(page.locator("#order-list .order-row")).to_have_count(1)
        expect(page.locator("#order-list .status-badge")).to_have_attribute("data-status", "cancelled")
        check("history")
    finally:
        page.context.close()

    order.refresh_from_db()
    wallet.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert wallet.balance == case["funds"] == ledger_sum(wallet)
    kinds = list(WalletEntry.objects.filter(wallet=wallet).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["adjustment", "payment", "refund"]
    assert Wallet.objects.filter(user=member).count() == 1
    assert problems == {}


# Korean text of the order pages (the ko catalogs of apps/orders).
def test_the_order_pages_speak_korean(browser, live_server, markets):
    from django.test import Client

    from apps.orders import services

    kr = Market.objects.get(code="KR")
    member = MemberFactory(email="orders.words@example.test", locale="ko", market_id="KR", name="김민지")
    funded_wallet(member, kr, 100_000)
    _product, sku = stocked(kr=12900)
    order = services.order_place(
        user=member,
        market=kr,
        idempotency_key="words",
        items=[{"sku": sku, "quantity": 1}],
        shipping_address=CASES["ko"]["address"],
    ).order
    services.order_pay_wallet(order_id=str(order.public_id), user=member, idempotency_key="words-pay")
    client = Client()
    client.force_login(member)
    page = _context(browser, live_server, language="ko", width=390)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    try:
        page.goto(live_server.url + f"/orders/{order.public_id}/receipt/")
        expect(page.locator("h1")).to_have_text("전자영수증", timeout=2_000)  # MERGE-DEPENDENT
        page.goto(live_server.url + f"/orders/{order.public_id}/")
        expect(page.locator("#receipt-link")).to_have_text("전자영수증", timeout=2_000)  # MERGE-DEPENDENT
        expect(page.locator("#cancel-button")).to_have_text("주문 취소", timeout=2_000)  # MERGE-DEPENDENT
        expect(page.locator(".detail-head .status-badge")).to_have_text(
            "결제 완료", timeout=2_000
        )  # MERGE-DEPENDENT (orders-core.po)
        expect(page.locator("#orders-link")).to_have_text("주문 내역", timeout=2_000)  # MERGE-DEPENDENT
    finally:
        page.context.close()
