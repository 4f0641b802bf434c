"""Admin widgets that a hostile form value cannot turn into a 500 (ADR 0005).

Django's ``AutocompleteSelect`` re-renders a refused form by looking its submitted value
up in the database; a value that is not a key (``category=NaN`` posted to a product's add
form) raised ``ValueError`` while rendering the error page. Values the target field cannot
parse are dropped from that lookup (the form has already reported them).

The same holds for integers no database column can hold (a 30-digit ``category``: SQLite
raises ``OverflowError``), both in that lookup and in a model choice field's own lookup,
and for the rows an admin action is asked to act on (``_selected_action=abc`` was a
``ValueError`` 500 in ``ModelAdmin.response_action``): such selections select nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.options import ModelAdmin
from django.contrib.admin.widgets import AutocompleteMixin
from django.core.exceptions import ValidationError
from django.forms.models import ModelChoiceField
from django.http import HttpRequest
from django.utils.translation import gettext

_original_optgroups = AutocompleteMixin.optgroups
_original_response_action = ModelAdmin.response_action
_original_to_python = ModelChoiceField.to_python

#: Largest magnitude of an integer column (PostgreSQL's bigint, SQLite's INTEGER).
_INT_LIMIT = 2**63


def _storable(field: Any, value: Any) -> bool:
    """Whether ``field`` can parse ``value`` into something a database column can hold."""
    try:
        parsed = field.to_python(value)
    except (ValidationError, ValueError, TypeError):
        return False
    return not (isinstance(parsed, int) and not -_INT_LIMIT <= parsed < _INT_LIMIT)


def _parsable(widget: Any, values: Any) -> list[Any]:
    remote_opts = widget.field.remote_field.model._meta
    target = remote_opts.get_field(
        getattr(widget.field.remote_field, "field_name", None) or remote_opts.pk.attname
    )
    return [value for value in values if _storable(target, value)]


def _optgroups(self: Any, name: str, value: Any, attr: Any = None) -> Any:
    return _original_optgroups(self, name, _parsable(self, value), attr)


def _to_python(self: Any, value: Any) -> Any:
    if value not in self.empty_values and not isinstance(value, self.queryset.model):
        key = self.to_field_name or self.queryset.model._meta.pk.name
        if not _storable(self.queryset.model._meta.get_field(key), value):
            raise ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
            )
    return _original_to_python(self, value)


def _response_action(self: Any, request: HttpRequest, queryset: Any) -> Any:
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    pk = queryset.model._meta.pk
    if not all(_storable(pk, value) for value in selected):
        self.message_user(
            request,
            gettext(
                "Items must be selected in order to perform actions on them. No items have been changed."
            ),
            messages.WARNING,
        )
        return None
    return _original_response_action(self, request, queryset)


def harden_admin_widgets() -> None:
    """Idempotent: installs the value filters on Django's autocomplete widgets, model
    choice fields and admin actions once."""
    if AutocompleteMixin.optgroups is not _optgroups:
        AutocompleteMixin.optgroups = _optgroups  # type: ignore[method-assign]
    if ModelChoiceField.to_python is not _to_python:
        ModelChoiceField.to_python = _to_python  # type: ignore[method-assign]
    if ModelAdmin.response_action is not _response_action:
        ModelAdmin.response_action = _response_action  # type: ignore[method-assign, assignment]
