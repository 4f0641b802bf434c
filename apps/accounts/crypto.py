"""Field encryption keys: Fernet (AES-128-CBC + HMAC-SHA256) through ``MultiFernet``.

``FIELD_ENCRYPTION_KEYS`` is a comma-separated list of Fernet keys; the first key
encrypts, every key decrypts, so a new key is put first, ``manage.py
rotate_encryption_keys`` re-encrypts every row with it, and then the old key is removed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "blind_index", "decrypt", "encrypt", "fernet", "phone_digits", "rotate"]


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must hold at least one Fernet key")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS: every key must be 32 url-safe base64-encoded bytes "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from exc


def fernet() -> MultiFernet:
    """The MultiFernet for the current settings (cached per key list)."""
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Raises ``InvalidToken`` when no configured key opens ``token``."""
    return fernet().decrypt(token.encode("ascii")).decode("utf-8")


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the first (newest) key; the plaintext is unchanged."""
    return fernet().rotate(token.encode("ascii")).decode("ascii")


# --- Blind index: find a row by an encrypted value without decrypting every row ----------


def _index_key() -> bytes:
    configured = getattr(settings, "FIELD_INDEX_KEY", "")
    if configured:
        return configured.encode()
    return hashlib.sha256(b"joopang-blind-index:" + settings.SECRET_KEY.encode()).digest()


def phone_digits(value: str) -> str:
    """A phone number reduced to how people type it at home: digits only, a +82 (KR) or
    +1 (US) country code turned into the national form ("+82 10-1234-5678" -> "01012345678")."""
    text = (value or "").strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+82") and digits.startswith("82"):
        digits = "0" + digits[2:]
    elif text.startswith("+1") and digits.startswith("1") and len(digits) == 11:
        digits = digits[1:]
    return digits


def blind_index(value: str) -> str:
    """HMAC-SHA256 of a normalised value under ``FIELD_INDEX_KEY`` (default: derived from
    ``SECRET_KEY``): equal values give equal indexes, and the index tells nothing without
    the key. Empty for an empty value. Changing the key needs ``rotate_encryption_keys``
    (which recomputes the indexes)."""
    if not value:
        return ""
    return hmac.new(_index_key(), value.encode(), hashlib.sha256).hexdigest()


def phone_index(phone: str) -> str:
    digits = phone_digits(phone)
    return blind_index(digits) if len(digits) >= 7 else ""
