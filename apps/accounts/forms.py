"""Storefront forms: sign up, log in, profile, account deletion."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.accounts.services import ADDRESS_KEYS
from apps.core.validators import validate_country_code
from apps.markets.selectors import market_list

LOCALE_CHOICES = [("ko", "한국어"), ("en", "English")]


def market_choices() -> list[tuple[str, str]]:
    return [(m.code, f"{m.name} ({m.currency})") for m in market_list()]


class SignupForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    name = forms.CharField(
        label=_("Name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password = forms.CharField(
        label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    market = forms.ChoiceField(label=_("Market"), choices=market_choices)
    locale = forms.ChoiceField(label=_("Language"), choices=LOCALE_CHOICES)
    accept_terms = forms.BooleanField(label=_("I agree to the Terms of Service (required)"), required=False)
    accept_privacy = forms.BooleanField(label=_("I agree to the Privacy Policy (required)"), required=False)
    accept_cross_border_transfer = forms.BooleanField(
        label=_("I agree to the transfer of my personal data abroad (required for the Korean market)"),
        required=False,
    )
    accept_marketing = forms.BooleanField(label=_("Send me offers and news (optional)"), required=False)

    def consents(self) -> list[str]:
        data = self.cleaned_data
        mapping = {
            "terms": "accept_terms",
            "privacy": "accept_privacy",
            "cross_border_transfer": "accept_cross_border_transfer",
            "marketing": "accept_marketing",
        }
        return [kind for kind, field in mapping.items() if data.get(field)]


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ProfileForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150, required=False)
    locale = forms.ChoiceField(label=_("Language"), choices=LOCALE_CHOICES)
    market = forms.ChoiceField(label=_("Market"), choices=market_choices)
    phone = forms.RegexField(
        label=_("Phone number"),
        regex=r"^[0-9+()\- ]{0,32}$",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        error_messages={"invalid": _("Use digits, spaces and + ( ) - only.")},
    )
    recipient = forms.CharField(label=_("Recipient"), max_length=100, required=False)
    line1 = forms.CharField(
        label=_("Address line 1"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    line2 = forms.CharField(
        label=_("Address line 2"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    city = forms.CharField(
        label=_("City"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    region = forms.CharField(
        label=_("State / province"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-level1"}),
    )
    postal_code = forms.CharField(
        label=_("Postal code"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code"}),
    )
    country = forms.CharField(
        label=_("Country code"),
        max_length=2,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "country"}),
    )

    @classmethod
    def initial_for(cls, user: Any) -> dict[str, Any]:
        address = dict(user.default_address or {})
        return {
            "name": user.name,
            "locale": user.locale,
            "market": user.market_id,
            "phone": str(user.phone or ""),
            **{key: address.get(key, "") for key in ADDRESS_KEYS},
        }

    def clean_country(self) -> str:
        """ISO 3166-1 alpha-2 (``kr`` is read as ``KR``); not any two characters."""
        country = str(self.cleaned_data.get("country") or "").strip().upper()
        if country:
            validate_country_code(country)
        return country

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "locale": data["locale"],
            "market": data["market"],
            "phone": data["phone"],
            "default_address": {key: data.get(key, "") for key in ADDRESS_KEYS},
        }


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label=_("Your password, to confirm"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
