"""Storefront wallet forms: a top-up from a saved method, adding a payment method.

The forms only parse what the shopper typed; the rules (limits, card-data refusal, the
method's market) are the services'. Amounts are typed in major units (won, dollars) and
become integer minor units here, exactly: ``Decimal`` from the typed string, never a float.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core.money import Money, currency_exponent
from apps.payments.models import PaymentMethod
from apps.payments.services import AMOUNT_MAX, looks_like_card_data
from apps.payments.services.methods import LABEL_MAX_LENGTH

#: Amounts offered as one-tap buttons, in minor units per currency.
QUICK_AMOUNTS: dict[str, tuple[int, ...]] = {
    "KRW": (10_000, 30_000, 50_000),
    "USD": (1_000, 3_000, 5_000),
}

#: A typed amount: digits with optional thousands separators, then an optional fraction.
_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?$")
_MAX_TYPED = 20


def quick_amounts(currency: str) -> list[Money]:
    return [Money(amount, currency) for amount in QUICK_AMOUNTS.get(currency, ())]


def major_to_minor(text: str, currency: str) -> int:
    """``"12.34"`` USD -> 1234; ``"10,000"`` KRW -> 10000. Raises ``ValueError`` for anything
    that is not a positive amount with at most the currency's decimals."""
    text = text.strip().replace(" ", "")
    # what people type around a number: "₩10,000", "10,000원", "$12.34"
    text = text.removeprefix("₩").removeprefix("$").removesuffix("원")
    match = _AMOUNT.match(text) if len(text) <= _MAX_TYPED else None
    if match is None:
        raise ValueError(text)
    exponent = currency_exponent(currency)
    fraction = match.group(1) or ""
    if len(fraction.rstrip("0")) > exponent:
        raise ValueError(text)
    try:
        minor = Decimal(text.replace(",", "")).scaleb(exponent)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(text) from exc
    if minor != minor.to_integral_value():
        raise ValueError(text)
    return int(minor)


def minor_to_major_text(amount: int, currency: str) -> str:
    """What the amount box shows for ``amount`` minor units: ``10000``, ``12.34``."""
    major = Money(amount, currency).to_major()
    exponent = currency_exponent(currency)
    return f"{major:.{exponent}f}"


class TopUpForm(forms.Form):
    """Top up from one of the member's saved methods of the current market.

    ``request_key`` is a fresh uuid4 per rendered form: the same form sent twice (a double
    click, a refresh of the POST) asks for the same top-up, which the service credits once.
    """

    method = forms.ChoiceField(label=_("Pay with"), widget=forms.RadioSelect)
    amount = forms.CharField(
        label=_("Amount"),
        max_length=_MAX_TYPED,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    request_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, methods: list[PaymentMethod], currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        method_field = self.fields["method"]
        assert isinstance(method_field, forms.ChoiceField)
        method_field.choices = [(str(m.public_id), m.display_label) for m in methods]
        amount_widget = self.fields["amount"].widget
        if currency_exponent(currency) == 0:
            amount_widget.attrs["inputmode"] = "numeric"
            self.fields["amount"].help_text = _("In won, for example 10000.")
        else:
            self.fields["amount"].help_text = _("In dollars, for example 12.34.")
        self.fields["request_key"].error_messages["invalid"] = _("This form has expired. Please try again.")
        self.fields["request_key"].error_messages["required"] = _("This form has expired. Please try again.")
        self.fields["method"].error_messages["required"] = _("Choose a payment method.")
        self.fields["method"].error_messages["invalid_choice"] = _("Choose one of your payment methods.")
        self.fields["amount"].error_messages["required"] = _("Enter an amount.")
        self.fields["amount"].error_messages["max_length"] = self._amount_error()

    def _amount_error(self) -> str:
        if currency_exponent(self.currency) == 0:
            return str(_("Enter a whole number of won, such as 10000."))
        return str(_("Enter an amount in dollars with at most two decimals, such as 12.34."))

    def clean_amount(self) -> int:
        try:
            minor = major_to_minor(self.cleaned_data["amount"], self.currency)
        except ValueError:
            raise forms.ValidationError(self._amount_error(), code="invalid") from None
        if minor < 1:
            raise forms.ValidationError(_("Enter an amount greater than zero."), code="min_value")
        if minor > AMOUNT_MAX:
            raise forms.ValidationError(_("This amount is too large."), code="max_value")
        return minor

    @classmethod
    def fresh_key(cls) -> str:
        return str(uuid.uuid4())


class NoCardEchoInput(forms.TextInput):
    """A text box that never writes back a value that looks like card or account data:
    a refused card number must not come back in the page (nor in its cache or history)."""

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, str) and looks_like_card_data(value):
            return None
        return super().format_value(value)


class MethodAddForm(forms.Form):
    """The member's input for a new method, passed as typed to ``payment_method_add``,
    which checks it (card data first, so nothing card-like is ever validated here and
    echoed in an error). ``explain`` turns its ``payment_method.invalid`` into field errors."""

    kind = forms.CharField(
        label=_("Kind"),
        # the card first: most members add one
        widget=forms.RadioSelect(
            choices=[
                (PaymentMethod.Kind.CARD, PaymentMethod.Kind.CARD.label),
                (PaymentMethod.Kind.BANK_ACCOUNT, PaymentMethod.Kind.BANK_ACCOUNT.label),
            ]
        ),
        required=False,
        initial=PaymentMethod.Kind.CARD,
    )
    label = forms.CharField(
        label=_("Name"),
        required=False,
        help_text=_("The card or bank name, such as “KB국민” or “My Visa”. Never the card number."),
        widget=NoCardEchoInput(
            attrs={"autocomplete": "off", "maxlength": LABEL_MAX_LENGTH, "spellcheck": "false"}
        ),
    )
    last4 = forms.CharField(
        label=_("Last four digits"),
        required=False,
        widget=NoCardEchoInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "maxlength": 4, "pattern": "[0-9]{4}"}
        ),
    )

    def explain_invalid(self) -> bool:
        """Add a field error for each field the service's ``payment_method.invalid`` is
        about; False when none could be named (the caller shows the service's message)."""
        data = self.cleaned_data
        named = False
        if data.get("kind") not in PaymentMethod.Kind.values:
            self.add_error("kind", _("Choose card or bank account."))
            named = True
        label = " ".join((data.get("label") or "").split())
        if not 1 <= len(label) <= LABEL_MAX_LENGTH or not label.isprintable():
            self.add_error("label", _("Give a name of 1 to %(max)s characters.") % {"max": LABEL_MAX_LENGTH})
            named = True
        if not re.fullmatch(r"[0-9]{4}", data.get("last4") or ""):
            self.add_error("last4", _("Enter exactly four digits."))
            named = True
        return named
