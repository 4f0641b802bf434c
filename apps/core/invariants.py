"""The invariant checker behind ``manage.py check_invariants`` (issue 24 item 1).

Each app that owns an invariant has an ``invariants`` module with a list ``INVARIANTS`` of
:class:`Invariant`; core collects them through the app registry (it imports no app by
name, so the layering holds). An invariant's ``find`` returns a query set of the offending
rows' ids (or id tuples): one SQL aggregate counts them, a slice of it gives examples.
Read-only: nothing here writes. Core's own invariant (the outbox delivers within its retry
horizon) is at the end of this module.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as registry
from django.conf import settings
from django.db import connection
from django.db.models import CharField, Expression, F, QuerySet, Value
from django.db.models.functions import Cast, Concat, Substr
from django.utils.module_loading import module_has_submodule

from apps.core import clock
from apps.core.models import OutboxEvent

#: Examples printed per breach.
EXAMPLES = 5


@dataclass(frozen=True)
class Invariant:
    """``name``: ``<app>.<snake_rule>``; ``find()``: the offending rows (``values_list``)."""

    name: str
    description: str
    find: Callable[[], QuerySet[Any, Any]]


@dataclass(frozen=True)
class Result:
    name: str
    description: str
    count: int
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.count == 0


def collect() -> list[Invariant]:
    """Every ``INVARIANTS`` of every installed Joopang app (``apps.<label>.invariants``), in
    the registry's order."""
    found: list[Invariant] = []
    for config in registry.get_app_configs():
        if not config.name.startswith("apps.") or not module_has_submodule(config.module, "invariants"):
            continue
        module = importlib.import_module(f"{config.name}.invariants")
        found.extend(getattr(module, "INVARIANTS", []))
    return found


def _example(row: Any) -> str:
    if isinstance(row, tuple):
        return ":".join(str(part) for part in row)
    return str(row)


def check(invariant: Invariant) -> Result:
    rows = invariant.find()
    count = rows.count()
    examples = [_example(row) for row in rows[:EXAMPLES]] if count else []
    return Result(invariant.name, invariant.description, count, examples)


def check_all(only: Iterable[str] | None = None) -> list[Result]:
    """Run every invariant (or those whose name starts with one of ``only``)."""
    prefixes = tuple(only or ())
    return [check(inv) for inv in collect() if not prefixes or inv.name.startswith(prefixes)]


# --- Helpers the apps' invariants share -------------------------------------------------------


def uuid_text(field_name: str) -> Expression:
    """A UUID column as ``str(uuid)`` (hyphenated, lower case), how events and reservation
    owners spell it. PostgreSQL casts a ``uuid`` so; SQLite stores 32 hex digits."""
    text = Cast(F(field_name), output_field=CharField())
    if connection.vendor == "postgresql":
        return text
    parts: list[Any] = []
    for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12)):
        if parts:
            parts.append(Value("-"))
        parts.append(Substr(text, start, length))
    return Concat(*parts, output_field=CharField())


def events_retained_since(now: dt.datetime | None = None) -> dt.datetime:
    """Changes made since then still have their event in the table: the prune deletes only
    events delivered more than ``DATA_PLATFORM_RETENTION_DAYS`` ago."""
    return (now or clock.now()) - dt.timedelta(days=int(settings.DATA_PLATFORM_RETENTION_DAYS))


def outbox_horizon_seconds() -> float:
    """How long an event may stay undelivered while the relay still retries it:
    ``INVARIANTS_OUTBOX_HORIZON_SECONDS`` when set, else max attempts x max backoff."""
    configured = getattr(settings, "INVARIANTS_OUTBOX_HORIZON_SECONDS", None)
    if configured is not None:
        return float(configured)
    return float(settings.DATA_PLATFORM_MAX_ATTEMPTS) * float(settings.DATA_PLATFORM_BACKOFF_MAX_SECONDS)


# --- Core's own invariant ----------------------------------------------------------------------


def _outbox_stuck() -> QuerySet[Any, Any]:
    if not settings.DATA_PLATFORM_WEBHOOK_URL:  # no receiver: events wait by design
        return OutboxEvent.objects.none().values_list("sequence", flat=True)
    horizon = clock.now() - dt.timedelta(seconds=outbox_horizon_seconds())
    return (
        OutboxEvent.objects.filter(
            status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.DELIVERING], occurred_at__lt=horizon
        )
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )


INVARIANTS = [
    Invariant(
        "core.outbox_settled_within_horizon",
        "every event older than the retry horizon is delivered or failed (webhook configured)",
        _outbox_stuck,
    ),
]
