"""The back office's "Change status" form (``apps.orders.admin.OrderAdmin.change_status``).

It offers only the moves the signed-in staff member may take from the order's status
(``admin.transition_targets``: the legal ones of ``apps.orders.state``, and for customer
service only ``CS_TRANSITIONS``) and asks for a reason. It decides nothing else: a status
posted that was not offered still goes to ``services.order_transition``, whose refusal
(``order.transition_not_allowed``, ``order.invalid_transition``...) is the form's error,
so the rules live in one place.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminRadioSelectWidget, UnfoldAdminTextareaWidget

from apps.orders.models import Order

REASON_MAX_LENGTH = 500


class StatusChoiceField(forms.ChoiceField):
    """Renders the offered moves; accepts any known status, so the service (not a form
    choice list) is what refuses a move the user may not take."""

    def valid_value(self, value: Any) -> bool:
        return str(value) in Order.Status.values


class OrderTransitionForm(forms.Form):
    to_status = StatusChoiceField(label=_("new status"), widget=UnfoldAdminRadioSelectWidget)
    reason = forms.CharField(
        label=_("reason"),
        max_length=REASON_MAX_LENGTH,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text=_("Kept in the order's status history with your name."),
    )

    def __init__(self, *args: Any, targets: list[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["to_status"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = targets
        if len(targets) == 1:
            field.initial = targets[0][0]

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("Say why the status changes."), code="required")
        return reason
