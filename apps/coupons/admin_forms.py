"""Forms of the coupon back office (``apps.coupons.admin``): a campaign's create/edit form
and the revoke (회수) forms.

The campaign form only parses what marketing typed: amounts in the market's major units
(won, dollars) become exact minor units (``Decimal``, never floats), the selections become
the codes and ids the service takes. The rules are ``services.campaign_clean``'s: its
``errors`` list (field, code, localized message) lands on the form's fields, so the page
and the API refuse the same input with the same words. The model's own validation is not
consulted (it would repeat the service's checks in other words, and it does not know the
minor units)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSplitDateTimeWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from apps.core.money import Money, currency_exponent
from apps.coupons.errors import CampaignInvalid
from apps.coupons.models import Campaign
from apps.coupons.services import campaign_clean

#: Amounts typed in the market's major units; ``discount_value`` only for fixed discounts.
MONEY_FIELDS = ("discount_value", "max_discount", "min_order_amount")
RELATION_FIELDS = ("categories", "products", "excluded_products")
INTEGER_FIELDS = ("total_quantity", "per_user_limit", "uses_per_coupon", "valid_days")
#: Every field the form edits, in the order of the service's ``FIELDS``.
FORM_FIELDS = (
    "name_ko",
    "name_en",
    "discount_type",
    "discount_value",
    "max_discount",
    "min_order_amount",
    "markets",
    *RELATION_FIELDS,
    *INTEGER_FIELDS,
    "starts_at",
    "ends_at",
)
REVOKE_REASON_MAX = 300


def _amount_field(label: Any, help_text: Any) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=16,
        widget=UnfoldAdminDecimalFieldWidget,
        help_text=help_text,
    )


def _integer_field(label: Any, help_text: Any = "") -> forms.IntegerField:
    return forms.IntegerField(
        label=label, required=False, widget=UnfoldAdminIntegerFieldWidget, help_text=help_text
    )


def to_minor(value: Decimal, currency: str) -> int | None:
    """Exact minor units of ``value`` (major units), ``None`` when it has more decimals than
    the currency (5000.5 won, 4.999 dollars): rounding would change what was typed."""
    minor = value.scaleb(currency_exponent(currency))
    if minor != minor.to_integral_value():
        return None
    return int(minor)


class CampaignForm(forms.ModelForm):
    """Create or edit a campaign; ``services.campaign_create``/``campaign_update`` save it
    (``CampaignAdmin.save_model``) with :meth:`service_data`. Every field is optional here:
    the service says what is missing, in its words."""

    name_ko = forms.CharField(
        label=_("name (Korean)"), required=False, max_length=200, widget=UnfoldAdminTextInputWidget
    )
    name_en = forms.CharField(
        label=_("name (English)"), required=False, max_length=200, widget=UnfoldAdminTextInputWidget
    )
    discount_type = forms.ChoiceField(
        label=_("discount type"),
        required=False,
        choices=[("", "---------"), *Campaign.DiscountType.choices],
        widget=UnfoldAdminSelectWidget,
    )
    discount_value = _amount_field(
        _("discount"),
        _("Fixed: the amount in the market's currency (e.g. 3000 won, 5.00 dollars). Percent: 1 to 100."),
    )
    max_discount = _amount_field(
        _("largest discount"), _("Percent discounts only: the most one order saves (optional).")
    )
    min_order_amount = _amount_field(
        _("minimum order amount"), _("In the market's currency; empty or 0 for no minimum.")
    )
    total_quantity = _integer_field(_("coupons in total"), _("Empty for unlimited."))
    per_user_limit = _integer_field(_("coupons per member"), _("Empty for 1."))
    uses_per_coupon = _integer_field(_("uses per coupon"), _("Empty for 1."))
    valid_days = _integer_field(
        _("valid for days after claim"), _("Empty: a claimed coupon is valid until the campaign ends.")
    )
    starts_at = forms.SplitDateTimeField(
        label=_("starts"), required=False, widget=UnfoldAdminSplitDateTimeWidget
    )
    ends_at = forms.SplitDateTimeField(label=_("ends"), required=False, widget=UnfoldAdminSplitDateTimeWidget)

    class Meta:
        model = Campaign
        fields = FORM_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False  # the service names what is missing
        campaign = self.instance
        if campaign.pk is not None and campaign.currency:
            for name in MONEY_FIELDS:
                value = getattr(campaign, name)
                if name == "discount_value" and campaign.discount_type == Campaign.DiscountType.PERCENT:
                    continue
                if value is not None:
                    self.initial[name] = Money(int(value), campaign.currency).to_major()
        self._data: dict[str, Any] | None = None

    # The service validates; the model's validation (and its constraint checks) would
    # repeat it in other words on raw minor units.
    def _post_clean(self) -> None:
        pass

    def _currency(self) -> str | None:
        """The one currency of the chosen markets (``None``: none chosen, or several)."""
        markets = self.cleaned_data.get("markets") or []
        currencies = {market.currency for market in markets}
        return next(iter(currencies)) if len(currencies) == 1 else None

    def _amount(self, name: str, currency: str | None) -> Any:
        value = self.cleaned_data.get(name)
        if value is None:
            return None
        if currency is None:
            # No single currency: the service refuses the markets; pass whole numbers on
            # so that is the only complaint, anything else as typed.
            return int(value) if value == value.to_integral_value() else value
        minor = to_minor(value, currency)
        if minor is None:
            places = currency_exponent(currency)
            if places == 0:
                message = _("Enter a whole amount: %(currency)s has no minor unit.") % {"currency": currency}
            else:
                message = _("Enter the amount with at most %(places)s decimal places.") % {"places": places}
            self.add_error(name, forms.ValidationError(message, code="decimal_places"))
            return value
        return minor

    def service_data(self) -> dict[str, Any]:
        """What ``campaign_clean``/``campaign_create``/``campaign_update`` take."""
        if self._data is not None:
            return self._data
        cleaned = self.cleaned_data
        currency = self._currency()
        kind = cleaned.get("discount_type") or None
        data: dict[str, Any] = {
            "name_ko": cleaned.get("name_ko", ""),
            "name_en": cleaned.get("name_en", ""),
            "discount_type": kind,
            "starts_at": cleaned.get("starts_at"),
            "ends_at": cleaned.get("ends_at"),
            "markets": [market.code for market in cleaned.get("markets") or []],
        }
        value = cleaned.get("discount_value")
        if kind == Campaign.DiscountType.PERCENT:
            data["discount_value"] = (
                int(value) if value is not None and value == value.to_integral_value() else value
            )
        else:
            data["discount_value"] = self._amount("discount_value", currency)
        data["max_discount"] = self._amount("max_discount", currency)
        data["min_order_amount"] = self._amount("min_order_amount", currency)
        for name in INTEGER_FIELDS:
            data[name] = cleaned.get(name)
        for name in RELATION_FIELDS:
            data[name] = [obj.pk for obj in cleaned.get(name) or []]
        self._data = data
        return data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        data = self.service_data()
        try:
            campaign_clean(data)
        except CampaignInvalid as exc:
            for error in exc.params.get("errors", []):
                field = error["field"] if error["field"] in self.fields else None
                if field is not None and field in self.errors:
                    continue  # the form already says what is wrong with it
                self.add_error(field, forms.ValidationError(error["message"], code=error["code"]))
        campaign = self.instance
        quantity = data.get("total_quantity")
        if (
            campaign.pk is not None
            and isinstance(quantity, int)
            and quantity < campaign.issued_count
            and "total_quantity" not in self.errors
        ):
            # campaign_update's own check (it re-checks under the row lock).
            self.add_error(
                "total_quantity",
                forms.ValidationError(
                    _("%(issued)s coupons are already issued.") % {"issued": campaign.issued_count},
                    code="below_issued",
                ),
            )
        return cleaned


class RevokeForm(forms.Form):
    """Revoke (회수) unused coupons: why (kept on each coupon and in its event)."""

    reason = forms.CharField(
        label=_("reason"),
        max_length=REVOKE_REASON_MAX,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text=_("Kept on each revoked coupon with your name."),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why the coupons are revoked."), code="required")
        return reason


class CampaignRevokeForm(RevokeForm):
    """Every unused coupon of a campaign at once: a reason and an explicit confirmation."""

    confirm = forms.BooleanField(
        label=_("Yes, revoke every unused coupon of this campaign"),
        widget=UnfoldBooleanWidget,
        error_messages={"required": _("Tick the box to confirm.")},
    )
