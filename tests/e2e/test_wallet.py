"""The wallet in a real browser (issue 19, "Show"): a member signs in, adds a payment method,
tops up with a quick amount, and sees the new balance and the ledger row, in Korean (won)
and in English (dollars); a card number typed as the method's name is refused and gone from
the page; axe-core finds nothing serious; no sideways scroll at 390 px; the same at 1280 px.
Screenshots: /tmp/wallet-<language>.png (390 px), /tmp/wallet-<language>-1280.png and
/tmp/wallet-methods-<language>.png, and the same names under test-results/.

The sandbox provider runs as a real HTTP server (``tests.payments.conftest.sandbox``); the
live server's thread reads the same settings, so it talks to it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.payments.models import PaymentMethod, Wallet, WalletEntry
from tests.accounts.factories import PASSWORD, MemberFactory
from tests.e2e.conftest import RESULTS
from tests.payments.conftest import sandbox  # noqa: F401  (the fixture, for this module)

pytestmark = pytest.mark.django_db(transaction=True)

SERIOUS = ("serious", "critical")
CARD_NUMBER = "4111 1111 1111 1111"

CASES = {
    # language, market, method name, quick amount (minor units), what the page shows
    "ko": {
        "market": "KR",
        "label": "KB국민",
        "quick": "30000",
        "typed": "30000",
        "balance": "₩30,000",
        "zero": "₩0",
        "credit": "+₩30,000",
        "email": "이메일",
        "password": "비밀번호",
    },
    "en": {
        "market": "US",
        "label": "My Visa",
        "quick": "3000",
        "typed": "30.00",
        "balance": "$30.00",
        "zero": "$0.00",
        "credit": "+$30.00",
        "email": "Email",
        "password": "Password",
    },
}


def _context(browser: Any, live_server: Any, *, language: str, width: int) -> Any:
    context = browser.new_context(
        locale="ko-KR" if language == "ko" else "en-US", viewport={"width": width, "height": 900}
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


def _shot(page: Any, name: str) -> None:
    target = Path("/tmp") / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    RESULTS.mkdir(exist_ok=True)
    shutil.copy(target, RESULTS / target.name)


@pytest.mark.parametrize("language", list(CASES))
def test_a_member_adds_a_method_tops_up_and_sees_the_balance_and_the_ledger(
    browser,
    live_server,
    sandbox,  # noqa: F811
    language,
):
    case = CASES[language]
    member = MemberFactory(email=f"wallet.{language}@example.test", locale=language, market_id=case["market"])
    page = _context(browser, live_server, language=language, width=390)
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
        # 1. sign in from the wallet link: the guest is sent to the sign-in page and back
        page.goto(base + "/wallet/")
        page.wait_for_url(re.compile(r"/accounts/login/\?next=/wallet/$"))
        page.get_by_label(case["email"]).fill(member.email)
        page.get_by_label(case["password"]).fill(PASSWORD)
        page.locator("form.account-form button[type=submit]").click()
        page.wait_for_url(base + "/wallet/")
        expect(page.locator("#wallet-balance")).to_have_text(case["zero"])
        expect(page.locator("#no-methods")).to_be_visible()
        assert page.locator("input[name=request_key]").count() == 0
        check("wallet-empty")

        # 2. add a payment method; a card number as its name is refused and not kept
        page.locator("#top-up a.button").click()
        page.wait_for_url(base + "/wallet/methods/")
        check("methods-empty")
        page.locator("#id_label").fill(CARD_NUMBER)
        page.locator("#id_last4").fill("1111")
        page.locator("#method-add button[type=submit]").click()
        expect(page.locator("#method-error")).to_be_visible()
        assert CARD_NUMBER not in page.content()
        assert page.locator("#id_label").input_value() == ""
        assert page.locator("#id_last4").input_value() == ""
        assert PaymentMethod.objects.count() == 0

        page.locator("#id_label").fill(case["label"])
        page.locator("#id_last4").fill("1234")
        page.locator("#method-add button[type=submit]").click()
        expect(page.locator("#method-list .method-label")).to_have_text(f"{case['label']} ****1234")
        expect(page.locator("main .messages")).to_contain_text(f"{case['label']} ****1234")
        check("methods")
        _shot(page, f"wallet-methods-{language}")

        # 3. top up with a quick amount: it fills the box (JavaScript), the button charges
        page.locator(".wallet-back a").click()
        page.wait_for_url(base + "/wallet/")
        expect(
            page.locator(f"input[name=method][value='{PaymentMethod.objects.get().public_id}']")
        ).to_be_checked()
        page.locator(f"button[name=fill][value='{case['quick']}']").click()
        expect(page.locator("#id_amount")).to_have_value(case["typed"])
        assert not page.locator("#id_amount").evaluate("el => el.form.hasAttribute('aria-busy')")
        page.locator("#top-up-submit").click()
        expect(page.locator("#wallet-balance")).to_have_text(case["balance"])
        expect(page.locator("main .messages .message.success")).to_contain_text(case["balance"])

        # 4. the ledger row: the credit, the balance after, a date in the market's format
        rows = page.locator("#ledger .ledger-row")
        expect(rows).to_have_count(1)
        expect(rows.first.locator(".ledger-amount.credit")).to_have_text(case["credit"])
        expect(rows.first.locator(".ledger-after")).to_contain_text(case["balance"])
        when = rows.first.locator("time").inner_text()
        if language == "ko":
            assert re.fullmatch(r"\d{4}\. \d{1,2}\. \d{1,2}\. (오전|오후) \d{1,2}:\d\d", when), when
        else:
            assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d (AM|PM)", when), when
        if language == "en":
            expect(page.locator("#history-title")).to_have_text("Wallet history")
            expect(rows.first.locator(".ledger-kind")).to_have_text("Top-up")
        check("wallet")
        _shot(page, f"wallet-{language}")
        box = page.locator("#top-up-submit").bounding_box()
        assert box is not None and box["height"] >= 44

        # 5. the same page at 1280 px: two columns, no overflow
        page.set_viewport_size({"width": 1280, "height": 900})
        check("wallet-1280")
        side = page.locator(".wallet-side").bounding_box()
        history = page.locator(".wallet-history").bounding_box()
        assert side is not None and history is not None and history["x"] > side["x"] + side["width"]
        _shot(page, f"wallet-{language}-1280")
    finally:
        page.context.close()

    wallet = Wallet.objects.get(user=member)
    expected = int(case["quick"])
    assert wallet.balance == expected
    assert list(WalletEntry.objects.filter(wallet=wallet).values_list("amount", flat=True)) == [expected]
    assert list(sandbox.stats()["charges_applied"].values()) == [1]
    assert problems == {}


# Korean text of the wallet pages (the ko catalogs of apps/payments).
def test_the_wallet_pages_speak_korean(browser, live_server):
    from django.test import Client

    member = MemberFactory(email="wallet.words@example.test", locale="ko", market_id="KR")
    client = Client()
    client.force_login(member)
    page = _context(browser, live_server, language="ko", width=390)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    try:
        page.goto(live_server.url + "/wallet/")
        expect(page.locator("h1")).to_have_text("내 지갑", timeout=2_000)  # MERGE-DEPENDENT
        expect(page.locator("#balance-title")).to_have_text("지갑 잔액", timeout=2_000)  # MERGE-DEPENDENT
        expect(page.locator("#history-title")).to_have_text(
            "지갑 이용 내역", timeout=2_000
        )  # MERGE-DEPENDENT
        expect(page.locator("#manage-methods")).to_have_text(
            "결제수단 관리", timeout=2_000
        )  # MERGE-DEPENDENT
        expect(page.locator("#wallet-link")).to_have_text("지갑", timeout=2_000)  # MERGE-DEPENDENT
        page.goto(live_server.url + "/wallet/methods/")
        expect(page.locator("h1")).to_have_text("결제수단", timeout=2_000)  # MERGE-DEPENDENT
        expect(page.locator("label[for=id_last4]")).to_have_text(
            "카드·계좌번호 끝 4자리", timeout=2_000
        )  # MERGE-DEPENDENT
    finally:
        page.context.close()
