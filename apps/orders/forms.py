"""Storefront order forms: checkout (address, how to pay, the per-render keys), pay now, cancel.

The payment choice is ``wallet`` or the public id of one of the member's saved methods of
the market. Each rendered form carries fresh uuid4 keys (``order_key``, ``pay_key``): the
same form sent twice places one order and pays it once.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from apps.accounts.services import ADDRESS_KEYS
from apps.payments.models import PaymentMethod

WALLET = "wallet"


def fresh_key() -> str:
    return str(uuid.uuid4())


class PaymentChoiceMixin(forms.Form):
    payment = forms.ChoiceField(
        label=_("Pay with"),
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how to pay."), "invalid_choice": _("Choose how to pay.")},
    )
    pay_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, methods: list[PaymentMethod], wallet_label: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(WALLET, wallet_label)] + [(str(m.public_id), m.display_label) for m in methods]
        self.fields["payment"].choices = choices  # type: ignore[attr-defined]

    def pay_service_key(self, prefix: str) -> str:
        """The service's key: the rendered form's key and the choice (another choice sent
        from the same page is another attempt)."""
        return f"{prefix}:{self.cleaned_data['pay_key']}:{self.cleaned_data['payment']}"


class CheckoutForm(PaymentChoiceMixin):
    recipient = forms.CharField(
        label=_("Recipient"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    line1 = forms.CharField(
        label=_("Address line 1"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    line2 = forms.CharField(
        label=_("Address line 2"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    city = forms.CharField(
        label=_("City"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "address-level2"})
    )
    region = forms.CharField(
        label=_("State / province"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-level1"}),
    )
    postal_code = forms.CharField(
        label=_("Postal code"), max_length=20, widget=forms.TextInput(attrs={"autocomplete": "postal-code"})
    )
    country = forms.CharField(
        label=_("Country code"),
        max_length=2,
        min_length=2,
        widget=forms.TextInput(attrs={"autocomplete": "country"}),
    )
    save_default = forms.BooleanField(label=_("Save as my default address"), required=False)
    order_key = forms.UUIDField(widget=forms.HiddenInput)
    #: The coupon applied on the page (``?coupon=``), carried into the order.
    coupon = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean_country(self) -> str:
        country = str(self.cleaned_data.get("country") or "").strip().upper()
        if not (country.isascii() and country.isalpha() and len(country) == 2):
            raise ValidationError(_("Enter a two-letter country code, such as KR or US."))
        return country

    def address(self) -> dict[str, str]:
        return {key: str(self.cleaned_data.get(key) or "").strip() for key in ADDRESS_KEYS}

    @staticmethod
    def initial_for(user: Any, market: Any, payment: str) -> dict[str, Any]:
        address = dict(user.default_address or {})
        initial: dict[str, Any] = {key: address.get(key, "") for key in ADDRESS_KEYS}
        if not initial.get("recipient"):
            initial["recipient"] = user.name
        if not initial.get("country"):
            initial["country"] = market.code
        initial.update(order_key=fresh_key(), pay_key=fresh_key(), payment=payment)
        return initial


class PayForm(PaymentChoiceMixin):
    """Pay a pending order (the detail page's "Pay now")."""


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (optional)"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
