"""Re-encrypt every encrypted field with the newest key of FIELD_ENCRYPTION_KEYS, and
recompute the blind indexes (``User.phone_index``) under the current FIELD_INDEX_KEY.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it),
deploy, run this command, then drop the old keys. A new FIELD_INDEX_KEY takes effect for
searches once this command has run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from apps.accounts import crypto
from apps.accounts.fields import EncryptedJSONField, EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt PII columns with the first key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        batch = options["batch_size"]
        total = 0
        for model in apps.get_models():
            fields = [
                f
                for f in model._meta.concrete_fields
                if isinstance(f, EncryptedTextField | EncryptedJSONField)
            ]
            if not fields:
                continue
            table = model._meta.db_table
            columns = [f.column for f in fields if f.column]  # a concrete field always has one
            manager = model._base_manager
            last_pk: Any = None
            rotated = 0
            while True:
                qs = manager.order_by("pk")
                if last_pk is not None:
                    qs = qs.filter(pk__gt=last_pk)
                # Raw column values (ciphertext), bypassing the field's decryption.
                rows = list(qs.values_list("pk", *[_raw(f) for f in fields])[:batch])
                if not rows:
                    break
                with transaction.atomic():
                    for pk, *tokens in rows:
                        updates = {
                            f.attname: _Raw(crypto.rotate(token))
                            for f, token in zip(fields, tokens, strict=True)
                            if token
                        }
                        if updates:
                            _update_raw(model, pk, updates)
                            rotated += 1
                last_pk = rows[-1][0]
            total += rotated
            self.stdout.write(f"{table}: {rotated} row(s) re-encrypted ({', '.join(columns)})")
        indexed = self._reindex_phones(batch)
        self.stdout.write(f"accounts_user: {indexed} phone index(es) recomputed")
        self.stdout.write(self.style.SUCCESS(f"done: {total} row(s)"))

    def _reindex_phones(self, batch: int) -> int:
        from apps.accounts.models import User

        changed = 0
        for pk, phone, index in (
            User.objects.order_by("pk").values_list("pk", "phone", "phone_index").iterator(chunk_size=batch)
        ):
            fresh = crypto.phone_index(str(phone or ""))
            if fresh != index:
                User.objects.filter(pk=pk).update(phone_index=fresh)
                changed += 1
        return changed


class _Raw(str):
    """An already-encrypted token: written as is."""


def _raw(field: Any) -> Any:
    from django.db.models import TextField
    from django.db.models.functions import Cast

    return Cast(field.attname, output_field=TextField())


def _update_raw(model: Any, pk: Any, updates: Mapping[str, str]) -> None:
    from django.db.models import TextField, Value

    model._base_manager.filter(pk=pk).update(
        **{name: Value(str(token), output_field=TextField()) for name, token in updates.items()}
    )
