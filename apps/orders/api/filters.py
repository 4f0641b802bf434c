"""Query parameters of ``GET /orders``, validated strictly: a status that does not exist is a
``request.invalid`` field error, not an empty list."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.orders.models import Order


class OrderListForm(forms.Form):
    status = forms.ChoiceField(label=_("status"), required=False, choices=[("", ""), *Order.Status.choices])
