"""A shopper signs up, logs out, logs in, switches language and market, and sees the
profile saved (headless Chromium against the live server)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Consent, User

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Hangang-Bridge-2026"


def test_sign_up_log_out_log_in_switch_language_and_market(page, live_server):
    base = live_server.url

    # Sign up (Korean page: the browser asks for ko-KR).
    page.goto(base + "/accounts/signup/")
    assert page.locator("html").get_attribute("lang") == "ko"
    page.get_by_label("이메일").fill("Jisoo@Example.test")
    page.get_by_label("이름").fill("박지수")
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.select_option("#id_market", "KR")
    page.get_by_label("이용약관에 동의합니다 (필수)").check()
    page.get_by_label("개인정보 처리방침에 동의합니다 (필수)").check()
    page.get_by_label("개인정보의 국외 이전에 동의합니다 (한국 마켓 필수)").check()
    page.locator("main").get_by_role("button", name="회원가입").click()
    # wait_for_load_state() returns at once on the still-loaded form page: wait for the redirect
    page.wait_for_url(base + "/")
    expect(page.locator(".messages")).to_contain_text("박지수님, 주팡에 오신 것을 환영합니다!")

    # Log out from the profile page (a POST form).
    page.goto(base + "/accounts/profile/")
    page.get_by_role("button", name="로그아웃").click()
    page.wait_for_url(base + "/")  # LOGOUT_REDIRECT_URL
    expect(page.locator("header").get_by_role("link", name="로그인")).to_be_visible()

    # A wrong password first, then the right one.
    page.goto(base + "/accounts/login/")
    page.get_by_label("이메일").fill("jisoo@example.test")
    page.get_by_label("비밀번호").fill("wrong-password")
    page.locator("main").get_by_role("button", name="로그인").click()
    expect(page.locator(".form-errors")).to_contain_text("이메일 주소 또는 비밀번호가 올바르지 않습니다.")
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="로그인").click()
    page.wait_for_url("**/accounts/profile/")
    expect(page.locator("h1")).to_have_text("내 프로필")

    # Switch language and market in the header: the profile follows.
    page.select_option("#pref-language", "en")
    page.select_option("#pref-market", "US")
    page.locator(".prefs").get_by_role("button").click()
    # the same URL comes back (POST-redirect-GET): wait for the new page's language
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("My profile")
    expect(page.locator("#id_locale")).to_have_value("en")
    expect(page.locator("#id_market")).to_have_value("US")

    # Edit the profile: name, phone, address.
    page.get_by_label("Name").fill("Jisoo Park")
    page.get_by_label("Phone number").fill("+1 646 555 0199")
    page.get_by_label("Address line 1").fill("350 5th Ave")
    page.get_by_label("City").fill("New York")
    page.get_by_label("Postal code").fill("10118")
    page.get_by_role("button", name="Save profile").click()
    # same URL again: the saved message is what marks the new page
    expect(page.locator(".messages")).to_contain_text("Your profile has been saved.")
    expect(page.get_by_label("Phone number")).to_have_value("+1 646 555 0199")
    expect(page.get_by_label("Address line 1")).to_have_value("350 5th Ave")

    user = User.objects.get(email__iexact="jisoo@example.test")
    assert (user.name, user.locale, user.market_id) == ("Jisoo Park", "en", "US")
    assert user.phone == "+1 646 555 0199"
    assert user.default_address["city"] == "New York"
    assert set(Consent.objects.filter(user=user, granted=True).values_list("kind", flat=True)) == {
        "terms",
        "privacy",
        "cross_border_transfer",
    }

    # After logging in again in a fresh browser state, the saved profile picks the language.
    page.context.clear_cookies()
    page.goto(base + "/accounts/login/")
    page.get_by_label("이메일").fill("jisoo@example.test")
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="로그인").click()
    page.wait_for_url("**/accounts/profile/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#pref-market")).to_have_value("US")
