"""FX conversion with Decimal rates and each market's rounding increment and mode."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.core.money import Money
from apps.markets.errors import FxRateUnavailable
from apps.markets.models import FxRate, Market
from apps.markets.selectors import fx_rate_get, market_get
from apps.markets.services import fx_convert

pytestmark = pytest.mark.django_db


@pytest.fixture
def kr() -> Market:
    return market_get("KR")


@pytest.fixture
def us() -> Market:
    return market_get("US")


def test_markets_are_seeded_with_their_policies(kr, us):
    assert (kr.currency, kr.default_locale, kr.time_zone, kr.rounding_increment) == (
        "KRW",
        "ko",
        "Asia/Seoul",
        10,
    )
    assert (us.currency, us.default_locale, us.time_zone, us.rounding_increment) == (
        "USD",
        "en",
        "America/New_York",
        1,
    )
    assert kr.e_receipt_required is True and us.e_receipt_required is False
    assert kr.tax_mode == "inclusive" and us.tax_mode == "exclusive"
    assert kr.reservation_ttl_minutes == 15


@pytest.mark.parametrize(
    ("usd_cents", "rate", "expected_won"),
    [
        (1299, "1385.5", 18000),  # 17997.645 -> 18000 (half up to 10 won)
        (100, "1384.95", 1380),  # 1384.95 -> 1380 (4.95 < 5)
        (100, "1385", 1390),  # exactly 5 won: half up
        (100, "1384.99999", 1380),  # just below the 5-won boundary
        (1, "1385.5", 10),  # 13.855 -> 10
        (0, "1385.5", 0),
    ],
)
def test_usd_to_krw_rounds_to_10_won_half_up(kr, usd_cents, rate, expected_won):
    assert fx_convert(Money(usd_cents, "USD"), market=kr, rate=Decimal(rate)) == Money(expected_won, "KRW")


@pytest.mark.parametrize(
    ("won", "rate", "expected_cents"),
    [
        (12900, "0.00072176", 931),  # 9.3107 -> $9.31
        (10000, "0.0007225", 723),  # 7.225 -> 723 (half up on exactly half a cent)
        (10000, "0.00072249", 722),  # 7.2249 -> 722
        (1, "0.00072176", 0),
    ],
)
def test_krw_to_usd_rounds_to_the_cent_half_up(us, won, rate, expected_cents):
    assert fx_convert(Money(won, "KRW"), market=us, rate=Decimal(rate)) == Money(expected_cents, "USD")


def test_same_currency_is_untouched(kr):
    assert fx_convert(Money(12345, "KRW"), market=kr) == Money(12345, "KRW")


def test_rates_come_from_the_newest_valid_row_and_the_inverse_pair(kr, us):
    FxRate.objects.create(
        base_currency="USD",
        quote_currency="KRW",
        rate=Decimal("1400"),
        valid_from=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    future = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    FxRate.objects.create(base_currency="USD", quote_currency="KRW", rate=Decimal("9999"), valid_from=future)
    assert fx_rate_get(base="USD", quote="KRW") == Decimal("1400")
    assert fx_convert(Money(1000, "USD"), market=kr) == Money(14000, "KRW")
    # KRW -> USD uses 1 / 1400 from the same pair: 14000 won = $10.00
    assert fx_convert(Money(14000, "KRW"), market=us) == Money(1000, "USD")


def test_missing_rate_is_a_domain_error(kr):
    with pytest.raises(FxRateUnavailable) as exc:
        fx_convert(Money(100, "EUR"), market=kr)
    assert exc.value.params == {"base": "EUR", "quote": "KRW"}
