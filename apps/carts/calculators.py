"""Tax and shipping estimates behind a small interface, chosen per market in settings
(``CART_TAX_CALCULATORS`` / ``CART_SHIPPING_CALCULATORS``: market code -> dotted path), so a
real tax service can replace them without touching the cart.

Both see only the market and the merchandise total (effective prices x quantities of the
lines that count) and answer integer minor units through ``apps.core.money``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from apps.core.money import Money
from apps.core.rounding import RoundingMode
from apps.markets.models import Market


@dataclass(frozen=True, slots=True)
class TaxEstimate:
    amount: Money
    #: True: the amount is already inside the prices (shown, not added); False: added on top.
    included: bool


@dataclass(frozen=True, slots=True)
class ShippingQuote:
    fee: Money
    #: How much more merchandise makes shipping free (0 when it already is, or when the
    #: market has no threshold and charges its fee regardless).
    free_shipping_remaining: Money
    threshold: Money


class TaxCalculator(Protocol):
    def estimate(self, *, market: Market, taxable: Money) -> TaxEstimate: ...


class ShippingCalculator(Protocol):
    def quote(self, *, market: Market, merchandise: Money) -> ShippingQuote: ...


class IncludedVat:
    """KR: prices include VAT. The included portion is ``taxable x rate / (1 + rate)``
    (10/110 at 10 %), rounded half up to the currency's minor unit (1 won)."""

    def estimate(self, *, market: Market, taxable: Money) -> TaxEstimate:
        rate = Decimal(market.tax_rate)
        amount = taxable.scaled(rate / (1 + rate), increment=1, mode=RoundingMode.HALF_UP)
        return TaxEstimate(amount, included=True)


class AddedSalesTax:
    """US: sales tax added on top at the market's rate, rounded half up to the cent."""

    def estimate(self, *, market: Market, taxable: Money) -> TaxEstimate:
        amount = taxable.scaled(Decimal(market.tax_rate), increment=1, mode=RoundingMode.HALF_UP)
        return TaxEstimate(amount, included=False)


class ThresholdShipping:
    """The market's flat fee, free from ``free_shipping_threshold`` on (a threshold of 0:
    always the fee). An empty cart ships nothing and pays nothing."""

    def quote(self, *, market: Market, merchandise: Money) -> ShippingQuote:
        zero = Money.zero(market.currency)
        threshold = market.free_shipping_threshold_money
        if merchandise.amount <= 0:
            return ShippingQuote(zero, threshold, threshold)
        if threshold.amount > 0 and merchandise >= threshold:
            return ShippingQuote(zero, zero, threshold)
        remaining = threshold - merchandise if threshold.amount > 0 else zero
        return ShippingQuote(market.shipping_fee_money, remaining, threshold)


@cache
def _load(path: str) -> object:
    return import_string(path)()


def tax_calculator(market: Market) -> TaxCalculator:
    """The configured calculator for ``market``, else one chosen by its ``tax_mode``."""
    path = getattr(settings, "CART_TAX_CALCULATORS", {}).get(market.code)
    if path is None:
        path = (
            "apps.carts.calculators.IncludedVat"
            if market.tax_mode == Market.TaxMode.INCLUSIVE
            else "apps.carts.calculators.AddedSalesTax"
        )
    return _load(path)  # type: ignore[return-value]


def shipping_calculator(market: Market) -> ShippingCalculator:
    path = getattr(settings, "CART_SHIPPING_CALCULATORS", {}).get(
        market.code, "apps.carts.calculators.ThresholdShipping"
    )
    return _load(path)  # type: ignore[return-value]
