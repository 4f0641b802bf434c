"""One error catalog: every code is unique, dotted, and translated in both languages."""

import importlib
import pkgutil
import re

from django.utils import translation

import apps
from apps.core.errors import ERROR_CATALOG


def _load_all_error_modules() -> None:
    for module in pkgutil.iter_modules(apps.__path__):
        try:
            importlib.import_module(f"apps.{module.name}.errors")
        except ModuleNotFoundError as exc:
            if exc.name != f"apps.{module.name}.errors":
                raise


def test_every_error_code_has_distinct_korean_and_english_texts():
    _load_all_error_modules()
    assert len(ERROR_CATALOG) >= 15
    problems = []
    for code, cls in sorted(ERROR_CATALOG.items()):
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", code), code
        assert 400 <= cls.http_status <= 599, code
        texts = {}
        for lang in ("ko", "en"):
            with translation.override(lang):
                texts[lang] = (str(cls.title), str(cls.message))
        for part in (0, 1):
            ko, en = texts["ko"][part], texts["en"][part]
            if not ko.strip() or not en.strip() or ko == en:
                problems.append(f"{code}: ko={ko!r} en={en!r}")
    assert problems == []


def test_codes_are_never_reused():
    from apps.core.errors import DomainError

    try:
        type("Dup", (DomainError,), {"code": "request.invalid"})
    except TypeError as exc:
        assert "already used" in str(exc)
    else:
        raise AssertionError("a duplicate code was accepted")
