"""structlog configuration: JSON lines (or a console renderer for humans).

Every line carries ``request_id`` (and ``user_id``, ``market`` inside a request) through
structlog's context variables; stdlib loggers (Django, Celery) go through the same chain.
Every line is also passed through ``redact_card_numbers`` just before it is rendered.
With tracing on (``joopang.tracing``), a line logged inside a span carries ``trace_id`` and
``span_id``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from joopang import tracing

#: A UUID (kept whole, whatever its digits), or a number as people write one: digit groups
#: joined by single spaces or dashes (``4111 1111 1111 1111``, ``110-123-456789``,
#: ``2024-05-01 12``), taken whole (atomic, so never a shorter piece of a longer number).
_UUID_OR_NUMBER = re.compile(
    r"(?P<uuid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})"
    # An order number (KR-20261130-000123): operators search logs by it; never a card.
    r"|(?P<order>(?<![0-9A-Za-z])[A-Z]{2}-[0-9]{8}-[0-9]{6}(?![0-9]))"
    r"|(?<![0-9])(?P<number>(?>[0-9]+(?:[ -][0-9]+)*))"
)
_SEPARATOR = re.compile(r"([ -])")
_CARD_DIGITS = range(13, 20)
_ACCOUNT_MIN_DIGITS = 10
_GROUP_DIGITS = range(2, 9)
_LONGEST_NUMBER = 200  # longer digit soup is judged group by group only


def _masked(groups: list[str]) -> str:
    return "****" + "".join(groups)[-4:]


def _is_card_or_account(groups: list[str]) -> bool:
    if len(groups) == 1:
        return len(groups[0]) in _CARD_DIGITS
    digits = sum(len(group) for group in groups)
    return all(len(group) in _GROUP_DIGITS for group in groups) and digits >= _ACCOUNT_MIN_DIGITS


def _mask_number(number: str, *, letter_before: bool, letter_after: bool) -> str:
    """Mask the card or account numbers inside one written number. A number may join
    several (``4111111111111111 2024-05-01``: a card, then a date): it is read as chains
    of groups sharing one separator, left to right, and each chain or lone group is judged
    on its own. A group touching a letter is part of a word or a hex id and never masked."""
    parts = _SEPARATOR.split(number)
    groups, seps = parts[0::2], parts[1::2]
    tainted = {0} if letter_before else set()
    if letter_after:
        tainted.add(len(groups) - 1)
    out: list[str] = []
    i = 0
    while i < len(groups):
        j = i
        if len(number) <= _LONGEST_NUMBER:
            while j + 1 < len(groups) and seps[j] == seps[i] and j + 1 not in tainted and i not in tainted:
                j += 1
        if j > i and _is_card_or_account(groups[i : j + 1]):
            out.append(_masked(groups[i : j + 1]))
            i = j + 1
        else:
            lone = groups[i]
            out.append(_masked([lone]) if i not in tainted and _is_card_or_account([lone]) else lone)
            i += 1
        if i < len(groups):
            out.append(seps[i - 1])
    return "".join(out)


def _is_latin_letter(char: str) -> bool:
    """Hex ids and words of code are Latin; a card number glued to Korean text
    (``국민4111111111111111``) is still a card number."""
    return char.isascii() and char.isalpha()


def _mask(match: re.Match[str]) -> str:
    number = match.group("number")
    if number is None:  # a UUID or an order number
        return match.group(0)
    text, start, end = match.string, match.start(), match.end()
    return _mask_number(
        number,
        letter_before=start > 0 and _is_latin_letter(text[start - 1]),
        letter_after=end < len(text) and _is_latin_letter(text[end]),
    )


def redact_text(text: str) -> str:
    """``text`` with every card-like or account-like number masked to its last four digits.

    The rule (a second line of defence: ``payments.services.methods`` refuses such input
    before it reaches a log; this catches a number that got into a message anyway):

    - 13 to 19 digits in a row (every card number length): ``4111111111111111`` ->
      ``****1111``;
    - 10 or more digits in groups of 2 to 8 joined by one repeated separator, a single
      space or a single dash (cards, bank accounts and phone numbers as people write
      them): ``4111 1111 1111 1111`` -> ``****1111``, ``3782-822463-10005`` ->
      ``****0005``, ``110-123-456789`` -> ``****6789``, ``010-1234-5678`` -> ``****5678``.

    Left alone: runs of up to 12 or of 20+ digits in a row (ids, counts, amounts, epoch
    seconds), digits touching a letter (hex request ids, ``req-42``), UUIDs, dates and
    times (``2024-05-01T12:34:56.123456+00:00``, ``2024-05-01 12:34:56``: 8 digits, then a
    2-digit group after another separator), decimals and IPs (``.`` is not a separator),
    and every non-string value (an int is never masked).
    """
    if not any(ch.isdigit() for ch in text):
        return text
    return _UUID_OR_NUMBER.sub(_mask, text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if isinstance(value, tuple):
        items = [_redact(item) for item in value]
        return value._make(items) if hasattr(value, "_make") else tuple(items)  # namedtuples too
    if isinstance(value, set | frozenset):
        return type(value)(_redact(item) for item in value)
    return value


def redact_card_numbers(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: mask card and account numbers (see ``redact_text``) in every
    string value of the event, nested dicts, lists, tuples and sets included (new
    containers: the caller's objects are never changed). Keys and non-string values pass
    as they are. It runs in the formatter, after the traceback is formatted, so structlog
    events, stdlib records (Django, Celery) and exception text all go through it."""
    for key, value in event_dict.items():
        event_dict[key] = _redact(value)
    return event_dict


def add_trace_ids(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: ``trace_id`` and ``span_id`` of the active OpenTelemetry span
    (``joopang.tracing``), so a log line leads to its trace. Nothing when tracing is off
    (one ``None`` check) or no span is active."""
    ids = tracing.current_ids()
    if ids is not None:
        event_dict.setdefault("trace_id", ids[0])
        event_dict.setdefault("span_id", ids[1])
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_trace_ids,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def build_logging_config(*, level: str, fmt: str) -> dict[str, Any]:
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            # First: an event below the level costs one check, not the whole chain.
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_card_numbers,
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.server": {"level": "WARNING"},
            # Django's own "Conflict: /path" line for every 4xx repeats the request_finished
            # event (code, request id, user, market) of django_structlog: keep its 5xx errors
            # only. A flash sale answers thousands of 409s a second.
            "django.request": {"level": "ERROR"},
            "django_structlog": {"level": level},
        },
    }
