"""Forms of the back office's stock screens (``apps.inventory.admin``): receive, correct,
transfer. They only parse what the inventory manager typed; the rules (never below zero
nor below what is reserved, compare-and-set on the count the editor saw, one market per
transfer) are the services', and their refusals come back as form errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from apps.inventory.models import StockMovement, Warehouse
from apps.inventory.services.levels import REASON_MAX_LENGTH, REFERENCE_MAX_LENGTH

Kind = StockMovement.Kind
#: Far above any real delivery; keeps a typo of extra zeros from becoming a movement.
MAX_UNITS = 1_000_000


class WarehouseChoiceField(forms.ModelChoiceField):
    """A warehouse by its name, code and market: "인천 풀필먼트 센터 (KR-ICN1, KR)"."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.code}, {obj.market_id})"


def _warehouses(markets: set[str] | None) -> forms.ModelChoiceField:
    """Active warehouses of ``markets`` (``None``: every market), by market and priority."""
    queryset = Warehouse.objects.filter(is_active=True).order_by("market_id", "priority", "id")
    if markets is not None:
        queryset = queryset.filter(market_id__in=sorted(markets))
    return WarehouseChoiceField(queryset=queryset, widget=UnfoldAdminSelectWidget)


class _ReasonForm(forms.Form):
    """Every movement says why (required) and may name a document (delivery note, ticket)."""

    reason = forms.CharField(
        label=_("reason"),
        max_length=REASON_MAX_LENGTH,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text=_("Kept in the stock ledger with your name."),
    )
    reference = forms.CharField(
        label=_("reference"),
        max_length=REFERENCE_MAX_LENGTH,
        required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("e.g. a delivery note or ticket number (optional)."),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why the stock changes."), code="required")
        return reason


class StockReceiveForm(_ReasonForm):
    """Units arriving: a delivery (receipt) or goods a customer sent back (return)."""

    field_order = ("sku_code", "warehouse", "kind", "quantity", "reason", "reference")

    sku_code = forms.CharField(label=_("SKU code"), max_length=64, widget=UnfoldAdminTextInputWidget)
    kind = forms.ChoiceField(
        label=_("kind"),
        choices=[(Kind.RECEIPT.value, Kind.RECEIPT.label), (Kind.RETURN.value, Kind.RETURN.label)],
        initial=Kind.RECEIPT.value,
        widget=UnfoldAdminSelectWidget,
    )
    quantity = forms.IntegerField(
        label=_("quantity"), min_value=1, max_value=MAX_UNITS, widget=UnfoldAdminIntegerFieldWidget
    )

    def __init__(self, *args: Any, markets: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["warehouse"] = _warehouses(markets)
        self.fields["warehouse"].label = _("warehouse")
        self.order_fields(self.field_order)


class StockCorrectForm(_ReasonForm):
    """A counted difference (correction, either sign) or a write-off (damage, negative),
    compare-and-set on the on-hand quantity the page showed (``expected_on_hand``)."""

    field_order = ("kind", "delta", "reason", "reference", "expected_on_hand")

    kind = forms.ChoiceField(
        label=_("kind"),
        choices=[(Kind.CORRECTION.value, Kind.CORRECTION.label), (Kind.DAMAGE.value, Kind.DAMAGE.label)],
        initial=Kind.CORRECTION.value,
        widget=UnfoldAdminSelectWidget,
    )
    delta = forms.IntegerField(
        label=_("change"),
        min_value=-MAX_UNITS,
        max_value=MAX_UNITS,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=_("Units to add (e.g. 3) or to remove (e.g. -3). Damage removes units."),
    )
    expected_on_hand = forms.IntegerField(widget=forms.HiddenInput)

    def clean_delta(self) -> int:
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("A change of 0 changes nothing."), code="zero")
        return delta


class StockTransferForm(_ReasonForm):
    """Units moving between two warehouses of one market (two ledger legs)."""

    field_order = ("sku_code", "from_warehouse", "to_warehouse", "quantity", "reason", "reference")

    sku_code = forms.CharField(label=_("SKU code"), max_length=64, widget=UnfoldAdminTextInputWidget)
    quantity = forms.IntegerField(
        label=_("quantity"), min_value=1, max_value=MAX_UNITS, widget=UnfoldAdminIntegerFieldWidget
    )

    def __init__(self, *args: Any, markets: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from_warehouse"] = _warehouses(markets)
        self.fields["from_warehouse"].label = _("from warehouse")
        self.fields["to_warehouse"] = _warehouses(markets)
        self.fields["to_warehouse"].label = _("to warehouse")
        self.order_fields(self.field_order)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        source, target = cleaned.get("from_warehouse"), cleaned.get("to_warehouse")
        if source is not None and source == target:
            self.add_error("to_warehouse", _("Choose a different warehouse than the source."))
        return cleaned
