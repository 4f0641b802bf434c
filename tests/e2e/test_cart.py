"""The cart in a real browser (issue 18, "Show"): a guest adds two products (from a product
page and from a card), changes quantities without a reload, logs in and sees the merged
cart with the notice, at 1280 and 390 px; the same forms without JavaScript; axe-core on
the cart page (filled and empty) in Korean and English. Screenshots: test-results/cart-*.png.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from apps.carts import services as cart_services
from apps.markets.models import Market
from apps.markets.services import markets_cache_clear
from tests.accounts.factories import PASSWORD, MemberFactory
from tests.carts.factories import stocked
from tests.catalog.factories import CategoryFactory
from tests.e2e.conftest import RESULTS

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = {"desktop": 1280, "phone": 390}
SERIOUS = ("serious", "critical")


@pytest.fixture
def shop() -> dict[str, Any]:
    Market.objects.filter(code="KR").update(shipping_fee=3000, free_shipping_threshold=50000)
    Market.objects.filter(code="US").update(shipping_fee=599, free_shipping_threshold=3500)
    markets_cache_clear()
    food = CategoryFactory(slug="food", name_ko="식품", name_en="Food")
    tangerine, tangerine_sku = stocked(
        kr=12000, us=999, category=food, name_ko="제주 감귤 3kg", name_en="Jeju Tangerines 3 kg"
    )
    water, water_sku = stocked(
        kr=9000, us=699, category=food, name_ko="제주 삼다수 2L", name_en="Jeju Water 2 L"
    )
    return {"tangerine": tangerine, "tangerine_sku": tangerine_sku, "water": water, "water_sku": water_sku}


def _context(
    browser: Any, live_server: Any, *, language: str = "ko", width: int = 1280, js: bool = True
) -> Any:
    context = browser.new_context(
        locale="ko-KR" if language == "ko" else "en-US",
        viewport={"width": width, "height": 900},
        java_script_enabled=js,
    )
    context.add_cookies(
        [
            {"name": "joopang_lang", "value": language, "url": live_server.url},
            {"name": "joopang_market", "value": "KR" if language == "ko" else "US", "url": live_server.url},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _shot(page: Any, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"cart-{name}.png"), full_page=True)


def _line(page: Any, sku: str) -> Any:
    return page.locator(f'li.cart-line[data-sku="{sku}"]')


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


@pytest.mark.parametrize("width", list(WIDTHS))
def test_guest_adds_two_products_changes_a_quantity_logs_in_and_sees_the_merged_cart(
    browser, live_server, shop, width
):
    member = MemberFactory(email=f"cart.{width}@example.test", locale="ko", market_id="KR")
    # the member already has one bottle of water in their cart (from the app, say)
    kr = Market.objects.get(code="KR")
    cart = cart_services.member_cart_get_or_create(user=member, market=kr)
    cart_services.cart_item_add(cart=cart, sku_code=shop["water_sku"], quantity=1, market=kr)
    page = _context(browser, live_server, width=WIDTHS[width])
    base = live_server.url
    tangerine, water = shop["tangerine"], shop["water"]
    a, b = shop["tangerine_sku"], shop["water_sku"]

    # browsing makes no cart
    page.goto(base + f"/p/{tangerine.pk}/{tangerine.slug}/")
    assert not [c for c in page.context.cookies() if c["name"] == "joopang_cart"]
    # 1. from the product page
    page.locator("#add-to-cart").get_by_role("button", name="장바구니 담기", exact=True).click()
    page.wait_for_url("**/cart/")
    cookie = next(c for c in page.context.cookies() if c["name"] == "joopang_cart")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "제주 감귤 3kg" in page.locator(".messages").inner_text()
    # 2. from a card (a one-option product goes straight in)
    page.goto(base + "/c/food/")
    page.locator(f'form.card-add:has(input[name=product][value="{water.pk}"]) button').click()
    page.wait_for_url(base + "/cart/")
    assert page.locator("li.cart-line").count() == 2
    assert page.locator("#cart-link .cart-count").inner_text() == "2"
    assert page.locator("#total-subtotal").inner_text() == "₩21,000"
    assert "₩29,000 더 담으면 무료배송" in page.locator("#free-shipping-hint").inner_text()

    # 3. change quantities with JavaScript: the page is not reloaded
    page.evaluate("window.__sameDocument = 'yes'")
    _line(page, a).locator('button[name=step][value="1"]').click()
    page.locator("#total-subtotal", has_text="₩33,000").wait_for()
    expect(_line(page, a).locator("input.qty")).to_have_value("2")
    qty = _line(page, b).locator("input.qty")
    qty.fill("3")
    qty.press("Tab")  # change event: the box sends itself
    page.locator("#total-subtotal", has_text="₩51,000").wait_for()
    expect(page.locator("#cart-link .cart-count")).to_have_text("5")
    expect(page.locator("#total-shipping")).to_have_text("무료")
    expect(page.locator("#free-shipping-hint")).to_have_text("무료배송으로 받을 수 있습니다.")
    # a refused change: the error at its line, nothing else changes
    qty = _line(page, b).locator("input.qty")
    qty.fill("11")  # max_per_order is 10 (the factory's default)
    qty.press("Tab")
    expect(_line(page, b).locator(".cart-line-error")).to_contain_text("최대 10개")
    expect(page.locator("#total-subtotal")).to_have_text("₩51,000")
    assert page.evaluate("window.__sameDocument") == "yes"
    if width == "phone":
        assert _no_overflow(page)
        for box in (
            _line(page, a).locator('button[name=step][value="1"]').bounding_box(),
            _line(page, a).locator("input.qty").bounding_box(),
            _line(page, a).locator(".remove button").bounding_box(),
        ):
            assert box is not None and box["height"] >= 44
    _shot(page, f"guest-{width}")

    # 4. log in: the guest cart merges into the member's, with the notice
    page.goto(base + "/accounts/login/?next=/cart/")
    page.get_by_label("이메일").fill(member.email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.locator("form.account-form button[type=submit]").click()
    # not "**/cart/": the login page's own URL (?next=/cart/) matches that glob
    page.wait_for_url(base + "/cart/")
    assert "비회원으로 담은 상품을 장바구니에 합쳤습니다." in page.locator(".messages").inner_text()
    assert _line(page, a).locator("input.qty").input_value() == "2"
    assert _line(page, b).locator("input.qty").input_value() == "4"  # 1 (member) + 3 (guest)
    assert page.locator("#cart-link .cart-count").inner_text() == "6"
    assert page.locator("#total-subtotal").inner_text() == "₩60,000"
    if width == "phone":
        assert _no_overflow(page)
    _shot(page, f"merged-{width}")
    page.context.close()


def test_without_javascript_add_change_and_remove_are_plain_forms(browser, live_server, shop):
    page = _context(browser, live_server, js=False)
    base = live_server.url
    tangerine, a = shop["tangerine"], shop["tangerine_sku"]
    page.goto(base + f"/p/{tangerine.pk}/{tangerine.slug}/")
    page.locator("#quantity").fill("2")
    page.locator("#add-to-cart button[type=submit]").click()
    page.wait_for_url("**/cart/")
    assert _line(page, a).locator("input.qty").input_value() == "2"
    # Each form below posts and comes back to the same /cart/ URL, and wait_for_load_state()
    # returns at once on the old, loaded page: wait for the new page's value instead (a
    # reloaded page shows the server's quantity; the old page keeps the typed one only until
    # it is replaced, so the subtotal is what is waited for there).
    # the stepper's + is a submit button: a full POST-redirect-GET
    _line(page, a).locator('button[name=step][value="1"]').click()
    expect(_line(page, a).locator("input.qty")).to_have_value("3")
    # type a quantity and press the (visible) Update button
    _line(page, a).locator("input.qty").fill("5")
    _line(page, a).locator("button[data-update]").click()
    expect(page.locator("#total-subtotal")).to_have_text("₩60,000")
    expect(_line(page, a).locator("input.qty")).to_have_value("5")
    # Enter in the box sends the typed quantity (the hidden default button), not "−"
    _line(page, a).locator("input.qty").fill("4")
    _line(page, a).locator("input.qty").press("Enter")
    expect(page.locator("#total-subtotal")).to_have_text("₩48,000")
    expect(_line(page, a).locator("input.qty")).to_have_value("4")
    _shot(page, "nojs")
    _line(page, a).locator(".remove button").click()
    expect(page.get_by_role("heading", name="장바구니가 비어 있습니다")).to_be_visible()
    assert page.locator("#cart-link .cart-count").count() == 0
    page.context.close()


@pytest.mark.parametrize("language", ["ko", "en"])
def test_cart_page_has_no_serious_axe_violations(browser, live_server, shop, language):
    page = _context(browser, live_server, language=language, width=390)
    base = live_server.url
    page.goto(base + "/cart/")  # empty: a way back
    assert page.locator(".cart-empty a.button").get_attribute("href") == "/"
    problems = {"empty": _axe(page)}
    _shot(page, f"empty-{language}")
    for product in (shop["tangerine"], shop["water"]):
        page.goto(base + f"/p/{product.pk}/{product.slug}/")
        page.locator("#add-to-cart button[type=submit]").click()
        page.wait_for_url("**/cart/")
    assert page.locator("li.cart-line").count() == 2
    if language == "en":
        assert page.locator("#total-tax").inner_text().startswith("$")
        assert "more for free shipping" in page.locator("#free-shipping-hint").inner_text()
    problems["filled"] = _axe(page)
    if not _no_overflow(page):
        problems["filled"].append("horizontal overflow at 390 px")
    _shot(page, f"filled-{language}")
    page.context.close()
    assert not any(problems.values()), problems
