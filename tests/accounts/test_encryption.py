"""PII at rest: ciphertext in the column, masked repr, key rotation."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from apps.accounts import crypto
from apps.accounts.models import User
from tests.accounts.factories import MemberFactory

pytestmark = pytest.mark.django_db
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def raw_columns(user_id: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, default_address FROM accounts_user WHERE id = %s", [user_id])
        return cursor.fetchone()


def test_column_holds_ciphertext_and_reads_back(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    user = MemberFactory(phone="010-9876-5432", default_address={"line1": "테헤란로 1", "city": "서울"})

    phone_raw, address_raw = raw_columns(user.pk)
    fresh = User.objects.get(pk=user.pk)

    assert "9876" not in phone_raw and "테헤란로" not in address_raw
    assert Fernet(OLD_KEY.encode()).decrypt(phone_raw.encode()).decode() == "010-9876-5432"
    assert fresh.phone == "010-9876-5432"
    assert fresh.default_address == {"line1": "테헤란로 1", "city": "서울"}


def test_repr_and_logs_never_show_plaintext(caplog):
    user = MemberFactory(phone="010-5555-0000", default_address={"line1": "비밀 주소"})
    fresh = User.objects.get(pk=user.pk)

    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info(
            "user %r phone %r address %r", fresh, fresh.phone, fresh.default_address
        )

    assert "5555" not in caplog.text and "비밀" not in caplog.text
    assert repr(fresh.phone) == "'***'"
    assert str(fresh.default_address) == "{***}"
    assert "5555" not in repr(fresh.__dict__)


def test_rotation_reencrypts_with_newest_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    user = MemberFactory(phone="+1 212 555 0100", default_address={"line1": "1 Main St"})
    empty = MemberFactory(phone="")
    before_phone, before_address = raw_columns(user.pk)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115

    after_phone, after_address = raw_columns(user.pk)
    assert after_phone != before_phone and after_address != before_address
    assert Fernet(NEW_KEY.encode()).decrypt(after_phone.encode()).decode() == "+1 212 555 0100"
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key is retired
    fresh = User.objects.get(pk=user.pk)
    assert fresh.phone == "+1 212 555 0100"
    assert fresh.default_address == {"line1": "1 Main St"}
    assert User.objects.get(pk=empty.pk).phone == ""


def test_unknown_key_cannot_read(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    user = MemberFactory(phone="010-1234-0000")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    with pytest.raises(crypto.InvalidToken):
        User.objects.get(pk=user.pk)
