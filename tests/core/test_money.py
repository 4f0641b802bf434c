from decimal import Decimal

import pytest

from apps.core.money import CurrencyMismatchError, Money
from apps.core.rounding import RoundingMode, round_discount, round_to_increment


def test_money_is_integer_minor_units_per_currency():
    assert Money.from_major("12.99", "USD") == Money(1299, "USD")
    assert Money.from_major("12900", "KRW") == Money(12900, "KRW")
    assert Money(1299, "USD").to_major() == Decimal("12.99")
    assert Money(12900, "KRW").exponent == 0


def test_money_refuses_floats_bools_and_unknown_currencies():
    with pytest.raises(TypeError):
        Money(12.99, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Money(100, "XYZ")


def test_arithmetic_keeps_currency_and_refuses_mixing():
    won = Money(12900, "KRW")
    assert won + Money(100, "KRW") == Money(13000, "KRW")
    assert won - Money(900, "KRW") == Money(12000, "KRW")
    assert won * 3 == Money(38700, "KRW")
    assert 2 * won == Money(25800, "KRW")
    assert -won == Money(-12900, "KRW")
    assert Money(100, "USD") < Money(101, "USD")
    with pytest.raises(CurrencyMismatchError):
        won + Money(100, "USD")
    with pytest.raises(CurrencyMismatchError):
        _ = won < Money(100, "USD")
    with pytest.raises(TypeError):
        won * Decimal("1.5")  # type: ignore[operator]
    assert Money(0, "KRW") != Money(0, "USD")


def test_money_json_shape_and_locale_display():
    assert Money(12900, "KRW").as_json("ko") == {"amount": 12900, "currency": "KRW", "display": "₩12,900"}
    assert Money(1299, "USD").as_json("en") == {"amount": 1299, "currency": "USD", "display": "$12.99"}
    assert Money(1299, "USD").as_json("ko")["display"] == "US$12.99"


def test_money_display_is_formatted_once_per_amount_currency_and_locale(monkeypatch):
    # given Babel's formatter counted (a page of cards shows the same amounts many times)
    from babel import numbers

    calls = []
    real = numbers.format_currency

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(numbers, "format_currency", counting)
    # when the same price is shown three times, and once in another language
    shown = [Money(987651, "KRW").as_json("ko")["display"] for _ in range(3)]
    other = Money(987651, "KRW").format("en")
    # then Babel ran once per (amount, currency, locale), and the display is unchanged
    assert shown == ["₩987,651"] * 3
    assert other == "₩987,651"
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("value", "increment", "mode", "expected"),
    [
        # KRW to 10 won, half up: the 5-won boundary goes up, just below goes down.
        (Decimal("17995"), 10, RoundingMode.HALF_UP, 18000),
        (Decimal("17994.999"), 10, RoundingMode.HALF_UP, 17990),
        (Decimal("17985"), 10, RoundingMode.HALF_EVEN, 17980),
        (Decimal("17995"), 10, RoundingMode.HALF_EVEN, 18000),
        # 0.5 won boundaries at increment 1
        (Decimal("0.5"), 1, RoundingMode.HALF_UP, 1),
        (Decimal("0.4999"), 1, RoundingMode.HALF_UP, 0),
        (Decimal("1.5"), 1, RoundingMode.HALF_EVEN, 2),
        (Decimal("2.5"), 1, RoundingMode.HALF_EVEN, 2),
        # USD cents
        (Decimal("1299.5"), 1, RoundingMode.HALF_UP, 1300),
        (Decimal("1299.49"), 1, RoundingMode.HALF_UP, 1299),
        (Decimal("1299.01"), 1, RoundingMode.UP, 1300),
        (Decimal("1299.99"), 1, RoundingMode.DOWN, 1299),
        # negative amounts (refunds) round symmetrically
        (Decimal("-17995"), 10, RoundingMode.HALF_UP, -18000),
        (Decimal("0"), 10, RoundingMode.HALF_UP, 0),
    ],
)
def test_round_to_increment_edges(value, increment, mode, expected):
    assert round_to_increment(value, increment=increment, mode=mode) == expected


def test_discounts_round_down_never_up():
    assert round_discount(Decimal("1234.99")) == 1234
    assert round_discount(Decimal("1239.99"), increment=10) == 1230
    assert round_discount(Decimal("0.999")) == 0
    # 15% off $19.99 = 299.85 cents -> 299
    assert Money(1999, "USD").scaled(Decimal("0.15"), mode=RoundingMode.DOWN) == Money(299, "USD")


def test_round_to_increment_refuses_nonpositive_increment():
    with pytest.raises(ValueError):
        round_to_increment(Decimal(1), increment=0)
