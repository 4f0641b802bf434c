"""Rounding rules for money, in minor units.

Amounts are integers of the currency's minor unit (KRW: won, USD: cents). Conversions
produce ``Decimal`` minor units which are then rounded to a market's increment (KR: 10
won, US: 1 cent) with the market's mode. Discounts always round down, so a shopper is
never promised more than the rule allows.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from django.db import models


class RoundingMode(models.TextChoices):
    HALF_UP = "half_up", "Half up"
    HALF_EVEN = "half_even", "Half even (banker's)"
    DOWN = "down", "Down (toward zero)"
    UP = "up", "Up (away from zero)"


_DECIMAL_MODES = {
    RoundingMode.HALF_UP: decimal.ROUND_HALF_UP,
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingMode.DOWN: decimal.ROUND_DOWN,
    RoundingMode.UP: decimal.ROUND_UP,
}


def round_to_increment(
    value_minor: Decimal | int, *, increment: int = 1, mode: str = RoundingMode.HALF_UP
) -> int:
    """Round a minor-unit amount to a multiple of ``increment`` with ``mode``.

    >>> round_to_increment(Decimal("17995"), increment=10)
    18000
    >>> round_to_increment(Decimal("17994.99"), increment=10)
    17990
    """
    if increment < 1:
        raise ValueError("increment must be a positive number of minor units")
    steps = (Decimal(value_minor) / increment).quantize(
        Decimal(1), rounding=_DECIMAL_MODES[RoundingMode(mode)]
    )
    return int(steps) * increment


def round_discount(value_minor: Decimal | int, *, increment: int = 1) -> int:
    """Discounts round down (toward zero) to the increment: never give more than promised."""
    return round_to_increment(value_minor, increment=increment, mode=RoundingMode.DOWN)
