"""Admin widgets that a hostile form value cannot turn into a 500 (ADR 0005).

Django's ``AutocompleteSelect`` re-renders a refused form by looking its submitted value
up in the database; a value that is not a key (``category=NaN`` posted to a product's add
form) raised ``ValueError`` while rendering the error page. Values the target field cannot
parse are dropped from that lookup (the form has already reported them).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.widgets import AutocompleteMixin
from django.core.exceptions import ValidationError

_original_optgroups = AutocompleteMixin.optgroups


def _parsable(widget: Any, values: Any) -> list[Any]:
    remote_opts = widget.field.remote_field.model._meta
    target = remote_opts.get_field(
        getattr(widget.field.remote_field, "field_name", None) or remote_opts.pk.attname
    )
    kept = []
    for value in values:
        try:
            target.to_python(value)
        except (ValidationError, ValueError, TypeError):
            continue
        kept.append(value)
    return kept


def _optgroups(self: Any, name: str, value: Any, attr: Any = None) -> Any:
    return _original_optgroups(self, name, _parsable(self, value), attr)


def harden_admin_widgets() -> None:
    """Idempotent: installs the value filter on Django's autocomplete widgets once."""
    if AutocompleteMixin.optgroups is not _optgroups:
        AutocompleteMixin.optgroups = _optgroups  # type: ignore[method-assign]
