"""Search tokens for Korean and English product text.

Korean has no spaces between many morphemes and shoppers type 2-syllable words (운동화,
생수), so Hangul runs become overlapping syllable bigrams (운동화 -> 운동, 동화); a
single-syllable word stays whole. Latin words are lower-cased, and a naive singular is
added (shoes -> shoe) so "shoe" finds "shoes". A product matches a query when its
document contains every query token; PostgreSQL answers that from a GIN index over
``string_to_array(search_document, ' ')`` (migration 0002).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_RUNS = re.compile(r"[\uac00-\ud7a3]+|[a-z0-9]+")
_HANGUL = re.compile(r"^[\uac00-\ud7a3]+$")
MAX_QUERY_TOKENS = 12


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").lower()


def _stem(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _run_tokens(run: str, *, for_document: bool) -> list[str]:
    if _HANGUL.match(run):
        if len(run) == 1:
            return [run]
        return [run[i : i + 2] for i in range(len(run) - 1)]
    stem = _stem(run)
    if for_document and stem != run:
        return [run, stem]
    return [stem]


def document_tokens(texts: Iterable[str]) -> list[str]:
    """Distinct tokens of all ``texts`` in first-seen order."""
    seen: dict[str, None] = {}
    for text in texts:
        for run in _RUNS.findall(_normalize(text)):
            for token in _run_tokens(run, for_document=True):
                seen.setdefault(token, None)
    return list(seen)


def build_document(texts: Iterable[str]) -> str:
    return " ".join(document_tokens(texts))


def query_tokens(query: str) -> list[str]:
    """Tokens a document must all contain to match ``query`` (at most MAX_QUERY_TOKENS)."""
    seen: dict[str, None] = {}
    for run in _RUNS.findall(_normalize(query)):
        for token in _run_tokens(run, for_document=False):
            seen.setdefault(token, None)
    return list(seen)[:MAX_QUERY_TOKENS]


def query_words(query: str) -> list[str]:
    """The query's whitespace-separated words, for ranking by name matches."""
    return [w for w in _normalize(query).split() if w][:MAX_QUERY_TOKENS]


def _jamo(text: str) -> str:
    """Hangul syllables split into their letters (NFD): "샴프" and "샴푸" differ in one of
    six letters instead of one of two syllables, so a one-letter typo scores like one in
    English."""
    return unicodedata.normalize("NFD", text)


def spelling_suggestion(query: str, vocabulary: list[str], *, cutoff: float = 0.75) -> str | None:
    """A near spelling of ``query`` from ``vocabulary`` (names and name words), or None.

    The whole query is tried first (a brand or category name of several words), then each
    word: a word already in the vocabulary stays, another is replaced by its closest match
    (difflib's ratio over letters, Hangul split into jamo, at least ``cutoff``). None when
    nothing changes."""
    import difflib

    normalized = " ".join(_normalize(query).split())
    if not normalized or not vocabulary:
        return None
    by_letters = {_jamo(word): word for word in vocabulary}
    letters = list(by_letters)

    def closest(text: str) -> str | None:
        match = difflib.get_close_matches(_jamo(text), letters, n=1, cutoff=cutoff)
        return by_letters[match[0]] if match else None

    known = set(vocabulary)
    if normalized in known:
        return None
    whole = closest(normalized)
    if whole:
        return whole
    out, changed = [], False
    for word in normalized.split()[:MAX_QUERY_TOKENS]:
        match = None if word in known else closest(word)
        out.append(match or word)
        changed = changed or match is not None
    return " ".join(out) if changed else None
