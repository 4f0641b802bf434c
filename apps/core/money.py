"""Money in integer minor units plus an ISO 4217 code; never floats.

KRW has no minor unit (exponent 0), USD has cents (exponent 2): ``Money(12900, "KRW")``
is ₩12,900 and ``Money(1299, "USD")`` is $12.99. Arithmetic refuses to mix currencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from babel.numbers import get_currency_precision, list_currencies

from apps.core.rounding import RoundingMode, round_to_increment


class CurrencyMismatchError(ValueError):
    """Two amounts in different currencies were combined: a programming error."""


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@cache
def currency_exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (CLDR data via Babel)."""
    return int(get_currency_precision(currency))


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Money amount must be int minor units, got {type(self.amount).__name__}")
        if self.currency not in _known_currencies():
            raise ValueError(f"unknown ISO 4217 currency {self.currency!r}")

    # --- constructors -------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_major(
        cls, value: Decimal | str | int, currency: str, *, mode: str = RoundingMode.HALF_UP
    ) -> Money:
        """``Money.from_major("12.99", "USD") == Money(1299, "USD")``."""
        minor = Decimal(value).scaleb(currency_exponent(currency))
        return cls(round_to_increment(minor, increment=1, mode=mode), currency)

    # --- views --------------------------------------------------------------------
    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    def to_major(self) -> Decimal:
        return Decimal(self.amount).scaleb(-self.exponent)

    # --- arithmetic ---------------------------------------------------------------
    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("multiply Money by an int quantity; use .scaled() for rates")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __bool__(self) -> bool:
        return self.amount != 0

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def scaled(self, factor: Decimal, *, increment: int = 1, mode: str = RoundingMode.HALF_UP) -> Money:
        """Multiply by a Decimal (a rate, a percentage) and round to ``increment``."""
        return Money(
            round_to_increment(Decimal(self.amount) * factor, increment=increment, mode=mode),
            self.currency,
        )

    @staticmethod
    def sum(items: list[Money] | tuple[Money, ...], currency: str) -> Money:
        total = Money.zero(currency)
        for item in items:
            total = total + item
        return total

    # --- presentation -------------------------------------------------------------
    def format(self, locale: str | None = None) -> str:
        from apps.core.formatting import format_money

        return format_money(self, locale)

    def as_json(self, locale: str | None = None) -> dict[str, Any]:
        """The API's money object: ``{"amount", "currency", "display"}``."""
        return {"amount": self.amount, "currency": self.currency, "display": self.format(locale)}

    def __str__(self) -> str:
        return f"{self.to_major()} {self.currency}"
