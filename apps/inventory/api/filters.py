"""Query parameters of the stock ledger (``GET /inventory/adjustments``), validated
strictly: a value that cannot be honoured is a ``request.invalid`` field error."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core.validators import validate_code
from apps.inventory.models import StockMovement

SKU_CODE_MAX_LENGTH = 64
WAREHOUSE_CODE_MAX_LENGTH = 32


class MovementListForm(forms.Form):
    sku = forms.CharField(
        label=_("SKU"), required=False, max_length=SKU_CODE_MAX_LENGTH, validators=[validate_code]
    )
    warehouse = forms.CharField(
        label=_("warehouse"),
        required=False,
        max_length=WAREHOUSE_CODE_MAX_LENGTH,
        validators=[lambda v: validate_code(v, WAREHOUSE_CODE_MAX_LENGTH)],
    )
    actor = forms.IntegerField(label=_("actor"), required=False, min_value=1, max_value=2**62)
    kind = forms.ChoiceField(label=_("kind"), required=False, choices=[("", ""), *StockMovement.Kind.choices])
    created_from = forms.DateTimeField(label=_("created at"), required=False)
    created_to = forms.DateTimeField(label=_("created at"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error(
                "created_to",
                forms.ValidationError(_("The end must not be before the start."), code="before_start"),
            )
        return data
