"""Every project msgid is translated, not fuzzy, and resolved to the project's own
translation in the running Django: no third-party catalog may shadow it (issue 15:
"Name" was "태스크 이름", django-celery-results' translation).

Django merges the catalogs of ``LOCALE_PATHS`` and of every installed app; the earliest
one that translates a msgid wins. This reads each of our ``.po`` files with Babel and
asks Django's merged catalog (``gettext``/``pgettext``/``ngettext``) for every entry.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
LANGUAGES = ("ko", "en")


def _po_files(language: str) -> list[Path]:
    files = [ROOT / "locale" / language / "LC_MESSAGES" / "django.po"]
    files += sorted(ROOT.glob(f"apps/*/locale/{language}/LC_MESSAGES/django.po"))
    return [f for f in files if f.exists()]


def _catalog(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as fh:
        return read_po(fh, abort_invalid=True)


def _forms(language: str, string: object) -> tuple[str, ...]:
    """The msgstr forms the language uses (Korean has one plural form, English two)."""
    if isinstance(string, tuple | list):
        return tuple(string[: get_plural(language).num_plurals])
    return (str(string),)


def _entries(language: str) -> list[tuple[str, object]]:
    out = []
    for path in _po_files(language):
        for message in _catalog(path):
            if message.id:  # skip the header
                out.append((str(path.relative_to(ROOT)), message))
    return out


@pytest.mark.parametrize("language", LANGUAGES)
def test_project_catalogs_exist(language):
    # a typo in a path must not turn every other test of this module into a no-op
    assert len(_po_files(language)) >= 7
    assert len(_entries(language)) > 100


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_project_msgid_is_translated_and_not_fuzzy(language):
    problems = []
    for path, message in _entries(language):
        strings = _forms(language, message.string)
        if message.fuzzy:
            problems.append(f"{path}: fuzzy: {message.id!r}")
        if not all(strings):
            problems.append(f"{path}: untranslated: {message.id!r}")
    assert problems == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_project_msgid_is_shadowed_by_another_catalog(language):
    """What Django answers for each msgid (in the running settings) is our own msgstr."""
    problems = []
    with translation.override(language):
        for path, message in _entries(language):
            if message.fuzzy:
                continue  # reported by the test above (Django ignores fuzzy entries)
            context = message.context
            if message.pluralizable:
                singular, plural = message.id
                forms = _forms(language, message.string)
                # n=1 and n=2 pick forms 0 and 1 in English; Korean has a single form
                for n in (1, 2):
                    expected = forms[0] if len(forms) == 1 or n == 1 else forms[1]
                    got = (
                        translation.npgettext(context, singular, plural, n)
                        if context
                        else translation.ngettext(singular, plural, n)
                    )
                    if got != expected:
                        problems.append(f"{path}: {singular!r} (n={n}) -> {got!r}, ours {expected!r}")
            else:
                got = (
                    translation.pgettext(context, message.id) if context else translation.gettext(message.id)
                )
                if got != message.string:
                    problems.append(f"{path}: {message.id!r} -> {got!r}, ours {message.string!r}")
    assert problems == []
