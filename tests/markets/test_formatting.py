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
