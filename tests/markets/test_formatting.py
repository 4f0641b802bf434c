"""Money, numbers and dates formatted per locale by Babel (CLDR)."""

import datetime as dt

from django.utils import translation

from apps.core.formatting import format_date, format_datetime, format_money, format_number
from apps.core.money import Money


def test_money_per_locale():
    assert format_money(Money(12900, "KRW"), "ko") == "₩12,900"
    assert format_money(Money(1299, "USD"), "en") == "$12.99"
    assert format_money(Money(1299, "USD"), "ko") == "US$12.99"
    assert format_money(Money(-500, "KRW"), "en") == "-₩500"


def test_dates_and_numbers_per_locale():
    day = dt.date(2026, 11, 23)
    assert format_date(day, "ko") == "2026. 11. 23."
    assert format_date(day, "en") == "Nov 23, 2026"
    assert format_number(1234567, "ko") == "1,234,567"


def test_active_language_is_the_default():
    with translation.override("ko"):
        assert format_date(dt.date(2026, 11, 23)) == "2026. 11. 23."
    with translation.override("en"):
        assert format_date(dt.date(2026, 11, 23)) == "Nov 23, 2026"


def test_datetimes_are_shown_in_the_market_time_zone():
    instant = dt.datetime(2026, 11, 23, 15, 30, tzinfo=dt.UTC)  # 00:30 next day in Seoul
    assert format_datetime(instant, "en", tz="Asia/Seoul").startswith("Nov 24, 2026")
    assert format_datetime(instant, "en", tz="America/New_York").startswith("Nov 23, 2026")


def test_korean_datetimes_say_ohu_and_drop_the_seconds():
    instant = dt.datetime(2026, 11, 30, 14, 56, 48, tzinfo=dt.UTC)  # 23:56:48 in Seoul
    assert format_datetime(instant, "ko", tz="Asia/Seoul") == "2026. 11. 30. 오후 11:56"
    assert format_datetime(instant, "ko", tz="Asia/Seoul", fmt="short") == "11월 30일 오후 11:56"
    assert format_datetime(instant, "ko", tz="America/New_York") == "2026. 11. 30. 오전 9:56"


def test_english_datetimes_drop_the_seconds_too():
    instant = dt.datetime(2026, 11, 30, 14, 56, 48, tzinfo=dt.UTC)
    assert format_datetime(instant, "en", tz="America/New_York") == "Nov 30, 2026, 9:56 AM"
    assert format_datetime(instant, "en", tz="Asia/Seoul", fmt="short") == "Nov 30, 11:56 PM"
    assert (
        format_datetime(instant, "en", tz="Asia/Seoul", fmt="long") == "Monday, November 30, 2026, 11:56 PM"
    )


def test_the_zone_can_be_shown_and_naive_values_are_utc():
    naive = dt.datetime(2026, 7, 1, 3, 0)
    assert format_datetime(naive, "en", tz="America/New_York", zone=True) == "Jun 30, 2026, 11:00 PM EDT"
    assert format_datetime(naive, "ko", tz="Asia/Seoul", zone=True) == "2026. 7. 1. 오후 12:00 KST"
    assert format_datetime(naive, "en") == "Jul 1, 2026, 3:00 AM"


def test_the_template_filter_uses_the_market_time_zone():
    from django.template import Context, Template

    from apps.markets.models import Market

    market = Market(code="KR", time_zone="Asia/Seoul")
    template = Template(
        "{% load joopang %}{{ at|market_datetime:market }}|{{ at|market_datetime_short:market }}"
    )
    instant = dt.datetime(2026, 11, 30, 14, 56, 48, tzinfo=dt.UTC)
    with translation.override("ko"):
        assert template.render(Context({"at": instant, "market": market})) == (
            "2026. 11. 30. 오후 11:56|11월 30일 오후 11:56"
        )


def test_fixed_url_is_the_reversed_url_under_each_script_prefix():
    from django.urls import reverse, set_script_prefix

    from apps.storefront.templatetags.joopang import fixed_url

    assert fixed_url("carts:add") == reverse("carts:add") == "/cart/add"
    set_script_prefix("/shop/")  # mounted under a prefix (SCRIPT_NAME): not the memo of "/"
    try:
        assert fixed_url("carts:add") == "/shop/cart/add"
    finally:
        set_script_prefix("/")
    assert fixed_url("carts:add") == "/cart/add"
