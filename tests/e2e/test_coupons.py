"""The coupon zone in a real browser (issue 21, Deliver 7): a member claims a coupon on
/coupons/ without a page reload (the URL and a marker set on the page survive), sees the
remaining count drop and the button change, sees a refusal's message in place (sold out
meanwhile), sees a countdown open a campaign's button at its start, then finds the coupon in
/coupons/mine/; in Korean and English at 390 px; axe-core finds nothing serious; no
sideways scroll. Screenshots: /tmp/coupons-ko.png, /tmp/coupons-390.png (English),
/tmp/coupons-before-<language>.png (before claiming), /tmp/coupons-mine-<language>.png and /tmp/coupons-footer-ko.png (the home page: the header
unchanged, the footer's link to the zone), and the same names under test-results/.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.core import clock
from apps.coupons import services
from apps.coupons.models import Coupon
from apps.markets.models import Market
from tests.accounts.factories import MemberFactory, staff
from tests.coupons.factories import active_campaign
from tests.e2e.conftest import RESULTS

pytestmark = pytest.mark.django_db(transaction=True)

SERIOUS = ("serious", "critical")

CASES = {
    "ko": {"market": "KR", "shot": "coupons-ko", "discount": "₩1,000", "big": "₩2,000"},
    "en": {"market": "US", "shot": "coupons-390", "discount": "$10.00 off", "big": "$20.00 off"},
}


def _page(browser: Any, live_server: Any, member: Any, *, language: str, width: int = 390) -> Any:
    client = Client()
    client.force_login(member)
    context = browser.new_context(
        locale="ko-KR" if language == "ko" else "en-US", viewport={"width": width, "height": 900}
    )
    context.add_cookies(
        [
            {"name": "joopang_lang", "value": language, "url": live_server.url},
            {"name": "joopang_market", "value": CASES[language]["market"], "url": live_server.url},
            {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url},
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


def _shot(page: Any, name: str, *, full_page: bool = True) -> None:
    target = Path("/tmp") / f"{name}.png"
    page.screenshot(path=str(target), full_page=full_page)
    RESULTS.mkdir(exist_ok=True)
    shutil.copy(target, RESULTS / target.name)


def _campaigns(language: str) -> dict[str, Any]:
    market = CASES[language]["market"]
    currency = Market.objects.get(code=market).currency
    actor = staff("marketing_manager")
    now = clock.now()
    common = {"markets": [market], "currency": currency}
    made = {
        # 3 coupons, 1 already claimed by someone else: "2 left"
        "main": active_campaign(
            actor=actor,
            name_en="Spring deal",
            name_ko="봄맞이 쿠폰",
            discount_value=1000,
            total_quantity=3,
            **common,
        ),
        # 1 coupon left when the page loads; someone else takes it before our member clicks
        "race": active_campaign(
            actor=actor,
            name_en="Flash deal",
            name_ko="번개 쿠폰",
            discount_value=2000,
            total_quantity=1,
            **common,
        ),
        # opens a few seconds after the page loads
        "soon": active_campaign(
            actor=actor,
            name_en="Soon deal",
            name_ko="곧 열리는 쿠폰",
            discount_value=1000,
            starts_at=now + dt.timedelta(seconds=6),
            ends_at=now + dt.timedelta(days=2),
            **common,
        ),
        # opens tomorrow
        "later": active_campaign(
            actor=actor,
            name_en="Later deal",
            name_ko="내일 쿠폰",
            discount_value=1000,
            starts_at=now + dt.timedelta(days=1, hours=2),
            ends_at=now + dt.timedelta(days=3),
            **common,
        ),
    }
    other = MemberFactory(email=f"other.{language}@example.test", market_id=market)
    services.coupon_claim(campaign_id=made["main"].pk, user=other, market=Market.objects.get(code=market))
    return made


@pytest.mark.parametrize("language", list(CASES))
def test_a_member_claims_without_a_reload_and_finds_the_coupon_in_my_coupons(browser, live_server, language):
    # given: four campaigns of the member's market, at 390 px
    case = CASES[language]
    made = _campaigns(language)
    market = Market.objects.get(code=case["market"])
    member = MemberFactory(
        email=f"coupons.{language}@example.test", locale=language, market_id=case["market"]
    )
    page = _page(browser, live_server, member, language=language)
    base = live_server.url
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        assert page.locator("html").get_attribute("lang") == language, name
        found = _axe(page)
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            found.append("horizontal overflow at 390 px")
        if found:
            problems[name] = found

    try:
        page.goto(base + "/coupons/")
        page.evaluate("window.__couponMarker = 'still here'")
        main = page.locator(f"#campaign-{made['main'].pk}")
        race = page.locator(f"#campaign-{made['race'].pk}")
        soon = page.locator(f"#campaign-{made['soon'].pk}")
        later = page.locator(f"#campaign-{made['later'].pk}")
        expect(main.locator(".coupon-discount")).to_contain_text(case["discount"])
        expect(main.locator("[data-remaining]")).to_contain_text("2")
        expect(main.locator("button.claim-button")).to_be_enabled()
        # a countdown, not the start time, once the script runs: 1 day and hh:mm:ss
        expect(later.locator("time[data-countdown]")).to_have_text(re.compile(r"^1\D+ \d\d:\d\d:\d\d$"))
        expect(later.locator("button.claim-button")).to_be_disabled()
        check("zone")
        _shot(page, f"coupons-before-{language}")

        # when: the member claims
        main_button = main.locator("button.claim-button")
        main_label = main_button.inner_text()
        main_button.click()
        expect(main_button).not_to_have_text(main_label)

        # then: the count drops, the button changes, the page was not reloaded
        expect(main.locator("[data-remaining]")).to_contain_text("1")
        expect(main_button).to_be_disabled()
        expect(main_button).not_to_have_text(main_label)
        assert page.url == base + "/coupons/"
        assert page.evaluate("window.__couponMarker") == "still here"
        assert Coupon.objects.filter(user=member, campaign=made["main"]).count() == 1
        expect(page.locator("#coupon-announce")).not_to_be_empty()

        # a refusal in place: the last coupon of the flash deal goes to someone else first
        someone = MemberFactory(email=f"someone.{language}@example.test", market_id=case["market"])
        services.coupon_claim(campaign_id=made["race"].pk, user=someone, market=market)
        race.locator("button.claim-button").click()
        expect(race.locator("[data-error]")).to_be_visible()
        expect(race.locator("[data-error]")).not_to_be_empty()
        expect(race.locator("button.claim-button")).to_be_disabled()
        expect(race.locator("[data-remaining]")).to_contain_text("0")
        assert page.evaluate("window.__couponMarker") == "still here"
        assert Coupon.objects.filter(user=member, campaign=made["race"]).count() == 0

        # the campaign opening a few seconds later: the countdown enables its button
        soon_button = soon.locator("button.claim-button")
        expect(soon_button).to_be_enabled(timeout=15_000)
        soon_label = soon_button.inner_text()
        soon_button.click()
        expect(soon_button).not_to_have_text(soon_label)
        expect(soon_button).to_be_disabled()
        expect(soon.locator("[data-error]")).to_be_hidden()
        assert page.evaluate("window.__couponMarker") == "still here"
        assert Coupon.objects.filter(user=member, campaign=made["soon"]).count() == 1
        check("zone-after")
        _shot(page, case["shot"])

        # my coupons: both, ready to use
        page.goto(base + "/coupons/mine/")
        ready = page.locator("#coupons-ready .coupon-card")
        expect(ready).to_have_count(2)
        expect(page.locator("#coupons-ready")).to_contain_text(case["discount"])
        expect(page.locator("#coupons-used")).to_have_count(0)
        expect(ready.first.locator(".coupon-uses")).to_have_text("1")
        check("mine")
        _shot(page, f"coupons-mine-{language}")
    finally:
        page.context.close()
    assert problems == {}


def test_the_footer_links_to_the_coupon_zone_and_the_header_still_fits_at_390(browser, live_server):
    # given: a member, Korean, 390 px (the header's links already fill its row: Coupons lives
    # in the footer, so the logo, the name, Wallet, My orders and Cart stay on one row)
    member = MemberFactory(email="coupons.footer@example.test", name="김주팡", locale="ko", market_id="KR")
    page = _page(browser, live_server, member, language="ko")
    try:
        page.goto(live_server.url + "/")
        logo = page.locator(".site-header .logo").bounding_box()
        cart = page.locator("#cart-link").bounding_box()
        assert logo is not None and cart is not None
        assert cart["y"] < logo["y"] + logo["height"]  # same row
        assert page.locator(".site-header #coupons-link").count() == 0
        link = page.locator(".site-footer #coupons-link")
        expect(link).to_have_attribute("href", "/coupons/")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        _shot(page, "coupons-footer-ko")
        # when
        link.click()
        # then
        page.wait_for_url(live_server.url + "/coupons/")
        expect(page.locator("#coupon-zone")).to_be_visible()
        expect(page.locator("#my-coupons-link")).to_have_attribute("href", "/coupons/mine/")
    finally:
        page.context.close()


# Korean text of the coupon pages (the ko catalogs of apps/coupons).
def test_the_coupon_pages_speak_korean(browser, live_server):
    actor = staff("marketing_manager")
    campaign = active_campaign(actor=actor, discount_value=3000, total_quantity=10)
    member = MemberFactory(email="coupons.words@example.test", locale="ko", market_id="KR")
    page = _page(browser, live_server, member, language="ko")
    try:
        page.goto(live_server.url + "/coupons/")
        card = page.locator(f"#campaign-{campaign.pk}")
        expect(page.locator("h1")).to_have_text("쿠폰존", timeout=2_000)  # MERGE-DEPENDENT
        expect(card.locator(".coupon-discount")).to_have_text("₩3,000 할인", timeout=2_000)  # MERGE-DEPENDENT
        expect(card.locator("[data-remaining]")).to_have_text("10개 남음", timeout=2_000)  # MERGE-DEPENDENT
        expect(card.locator("button.claim-button")).to_have_text(
            "쿠폰 받기", timeout=2_000
        )  # MERGE-DEPENDENT
        card.locator("button.claim-button").click()
        expect(card.locator("button.claim-button")).to_have_text("받음", timeout=5_000)  # MERGE-DEPENDENT
        expect(page.locator("#coupons-link")).to_have_text("쿠폰존", timeout=2_000)  # MERGE-DEPENDENT
        page.goto(live_server.url + "/coupons/mine/")
        expect(page.locator("h1")).to_have_text("내 쿠폰", timeout=2_000)  # MERGE-DEPENDENT
        expect(page.locator("#ready-title")).to_contain_text("사용 가능", timeout=2_000)  # MERGE-DEPENDENT
    finally:
        page.context.close()
