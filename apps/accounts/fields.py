"""Encrypted model fields for PII (phone numbers, addresses).

The column holds a Fernet token (text); Python code sees the plaintext. Values come back
as :class:`Sensitive` strings whose ``repr`` is masked, so a model or a dict logged by
mistake, a debug page or a traceback never shows the plaintext. Encrypted columns cannot
be searched or filtered on (the ciphertext is randomized), by design.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from django.db import models

from apps.accounts import crypto

if TYPE_CHECKING:
    from django.db.models.expressions import Combinable

MASK = "'***'"


class Sensitive(str):
    """A plaintext PII string whose ``repr`` never shows the value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return MASK


class SensitiveDict(dict):
    """A decrypted PII mapping whose ``repr`` never shows the values."""

    def __repr__(self) -> str:
        return "{***}"

    __str__ = __repr__


class EncryptedTextField(models.TextField):
    """Text encrypted at rest with the newest key of ``FIELD_ENCRYPTION_KEYS``.

    Empty strings are stored as empty strings (nothing to hide, and "no phone" stays
    cheap to test for); everything else as a Fernet token.
    """

    description = "Text encrypted with Fernet"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Sensitive | None:
        if value is None:
            return None
        if value == "":
            return Sensitive("")
        return Sensitive(crypto.decrypt(value))

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, Sensitive):
            return value
        return Sensitive(str(value))

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))


class EncryptedJSONField(models.TextField):
    """A JSON object (e.g. an address) serialized, then encrypted like the text field."""

    description = "JSON encrypted with Fernet"

    # Model attribute types for django-stubs: a mapping is assigned; a loaded value is
    # a SensitiveDict, a freshly assigned one the mapping as given. ``null=True`` adds None.
    # The column is text, but Python never sees the text: hence the narrower override.
    _pyi_private_set_type: Mapping[str, Any] | Combinable  # type: ignore[assignment]  # not str
    _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]  # not str

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> SensitiveDict | None:
        if value is None or value == "":
            return None
        return SensitiveDict(json.loads(crypto.decrypt(value)))

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, SensitiveDict):
            return value
        if isinstance(value, str):
            return SensitiveDict(json.loads(value)) if value else None
        return SensitiveDict(value)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None or value == {}:
            return None
        return crypto.encrypt(json.dumps(dict(value), ensure_ascii=False, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> str:
        # django-stubs leave the field's generic get type unbound on a subclass: name it.
        value = cast("Mapping[str, Any] | None", self.value_from_object(obj))
        return json.dumps(dict(value)) if value else ""
