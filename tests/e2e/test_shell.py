"""The storefront shell renders in Korean and English and the switcher changes language."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_home_renders_in_korean_then_switches_to_english(page, live_server):
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.locator("header .search input[type=search]").is_visible()

    page.select_option("#pref-language", "en")
    page.select_option("#pref-market", "US")
    page.get_by_role("button", name="적용").click()

    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#pref-market").input_value() == "US"
    assert "30 days" in page.locator("footer").inner_text()
