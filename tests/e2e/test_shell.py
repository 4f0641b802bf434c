"""The storefront shell renders in Korean and English and the switcher changes language."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_home_renders_in_korean_then_switches_to_english(page, live_server):
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.locator("header .search input[type=search]").is_visible()

    page.select_option("#pref-language", "en")
    page.select_option("#pref-market", "US")
    page.get_by_role("button", name="적용").click()

    # the same URL comes back (POST-redirect-GET), and wait_for_load_state() would return at
    # once on the old, loaded page: wait for the new page's language instead
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#pref-market")).to_have_value("US")
    expect(page.locator("footer")).to_contain_text("30 days")
