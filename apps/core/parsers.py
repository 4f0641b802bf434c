"""Request body parsing that a hostile body cannot turn into a 500.

``[[[[…]]]]`` 5,000 deep makes Python's JSON decoder raise ``RecursionError``; a few
hundred levels parse but can blow the stack later (serializers, ``json.dumps`` of the
idempotency hash). Every JSON body, through DRF or not, is read with
:func:`json_loads_bounded`: invalid, too deep or not UTF-8 is ``request.malformed`` (400).
"""

from __future__ import annotations

import json
import re
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from apps.core.errors import RequestInvalidCharacters, RequestMalformed

#: Deepest nesting of arrays/objects a JSON body may have. No Joopang payload needs more
#: than a handful of levels; 32 leaves room for partners' metadata objects.
DEFAULT_MAX_DEPTH = 32


def max_depth() -> int:
    return int(getattr(settings, "API_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH))


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests arrays/objects deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def json_loads_bounded(data: str | bytes, *, limit: int | None = None) -> Any:
    """``json.loads`` that raises :class:`RequestMalformed` instead of anything else.

    Rejects: invalid JSON, bytes that are not UTF-8, lone surrogates (``"\\ud800"``),
    ``NaN``/``Infinity`` (not JSON), and nesting deeper than ``limit``; a string with a
    control character (NUL...) is :class:`RequestInvalidCharacters`, like a query value.
    """
    limit = max_depth() if limit is None else limit
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError, TypeError) as exc:
        raise RequestMalformed() from exc
    if json_depth_exceeds(value, limit) or _has_lone_surrogate(value):
        raise RequestMalformed()
    if _has_control_character(value):
        raise RequestInvalidCharacters()
    return value


#: Like a query value (joopang.middleware): C0 controls but tab/CR/LF, and DEL. A NUL in a
#: JSON string cannot even be stored in PostgreSQL text or jsonb.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _has_control_character(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _CONTROL.search(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _has_lone_surrogate(value: Any) -> bool:
    """``"\\udc80"`` decodes to a str that cannot be encoded back to UTF-8 (nor stored)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSON parser with :func:`json_loads_bounded` (depth limit, no RecursionError)."""

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return None
        try:
            return json_loads_bounded(stream.read())
        except RequestMalformed as exc:
            raise ParseError() from exc


class CheckedFormParser(parsers.FormParser):
    """DRF's urlencoded parser (PUT/PATCH bodies Django does not parse itself): a key or
    value with a control character is ``request.invalid_characters``, as for a POSTed form
    (which the input guard checks before any view)."""

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        for key, values in data.lists():
            if _CONTROL.search(key) or any(_CONTROL.search(v) for v in values):
                raise RequestInvalidCharacters()
        return data
