"""The back office's wallet adjustment form (``apps.payments.admin.WalletAdmin``).

It only parses what the staff member typed: the amount in the wallet currency's major
unit (won, or dollars with cents) becomes exact integer minor units (``Decimal``, never a
float; more decimal places than the currency has is an error, not a rounding), signed
by the credit/debit choice. The rules (the market's limit for customer service, never
below zero, a reason) are ``services.wallet_adjust``'s, and its refusals come back as
form errors. ``request_reference`` is a fresh UUID per rendered form: posting the same
form twice names the same ledger reference, so it moves the wallet once.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminRadioSelectWidget, UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from apps.core.money import currency_exponent
from apps.payments.services.ledger import AMOUNT_MAX

CREDIT = "credit"
DEBIT = "debit"
REASON_MAX_LENGTH = 500
#: Digits with optional thousands separators, then an optional fraction: "5000",
#: "5,000", "12.50". No sign: the direction says credit or debit.
_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def minor_units(text: str, currency: str) -> int:
    """``"12.50"`` USD -> 1250, ``"5,000"`` KRW -> 5000; exact, never rounded.
    Raises ``forms.ValidationError`` for anything else."""
    cleaned = text.strip().replace(" ", "")
    if not _AMOUNT.match(cleaned):
        raise forms.ValidationError(
            _("Enter a positive amount in digits, e.g. %(example)s."),
            code="invalid",
            params={"example": "5000" if currency_exponent(currency) == 0 else "12.50"},
        )
    exponent = currency_exponent(currency)
    try:
        value = Decimal(cleaned.replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise forms.ValidationError(_("Enter a valid amount."), code="invalid") from exc
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        if exponent == 0:
            raise forms.ValidationError(
                _("%(currency)s has no minor unit: enter a whole amount."),
                code="precision",
                params={"currency": currency},
            )
        raise forms.ValidationError(
            _("Enter at most %(places)s decimal places."), code="precision", params={"places": exponent}
        )
    amount = int(minor)
    if amount < 1:
        raise forms.ValidationError(_("The amount must be more than zero."), code="min_value")
    if amount > AMOUNT_MAX:
        raise forms.ValidationError(_("This amount is too large."), code="max_value")
    return amount


class WalletAdjustForm(forms.Form):
    direction = forms.ChoiceField(
        label=_("credit or debit"),
        choices=[
            (CREDIT, _("Credit (add to the wallet)")),
            (DEBIT, _("Debit (take from the wallet)")),
        ],
        initial=CREDIT,
        widget=UnfoldAdminRadioSelectWidget,
    )
    amount = forms.CharField(label=_("amount"), max_length=24, widget=UnfoldAdminTextInputWidget)
    reason = forms.CharField(
        label=_("reason"),
        max_length=REASON_MAX_LENGTH,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text=_("Kept in the wallet's ledger with your name; the member sees the entry."),
    )
    request_reference = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["request_reference"].initial = uuid.uuid4()
        self.fields["amount"].label = _("amount (%(currency)s)") % {"currency": currency}
        self.fields["amount"].help_text = (
            _("In won, e.g. 5000.") if currency_exponent(currency) == 0 else _("In dollars, e.g. 12.50.")
        )

    def clean_amount(self) -> int:
        return minor_units(self.cleaned_data["amount"], self.currency)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why the balance changes."), code="required")
        return reason

    @property
    def signed_amount(self) -> int:
        """Minor units, positive for a credit, negative for a debit (after ``is_valid``)."""
        amount = int(self.cleaned_data["amount"])
        return -amount if self.cleaned_data["direction"] == DEBIT else amount

    @property
    def reference(self) -> str:
        """The ledger reference of this rendered form (after ``is_valid``)."""
        return f"admin-adjustment:{self.cleaned_data['request_reference']}"
