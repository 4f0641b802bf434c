"""Read replicas for the catalog's reads (issue 25 item 5; docs/scaling.md).

``DATABASE_REPLICA_URLS`` (comma-separated; empty, the default, means none) adds the aliases
``replica0``, ``replica1``… to ``DATABASES``. Reads go to a replica only when all of these hold:

1. the code asked for it: the read runs inside ``replica_reads()`` (a context manager and a
   decorator), which the catalog's read paths use (product lists and search, product detail,
   the popular and home listings, the product image). Nothing else ever reads a replica:
   carts, orders, wallet, coupons, accounts, the admin, tasks, management commands;
2. the model is a catalog model (``REPLICA_APPS``). Stock (inventory), coupons and
   everything else are read from the primary even inside the scope, so availability is
   never older than the primary ("stock must never be shown available when it is not
   reservable");
3. the primary is not inside a transaction (``atomic``), and nothing has been written in
   the scope (a write makes the rest of the scope read the primary: read-your-writes);
4. the replica is up and close behind: each process measures a replica's lag at most every
   ``REPLICA_CHECK_SECONDS`` and skips it while it is more than
   ``DATABASE_REPLICA_MAX_LAG_SECONDS`` behind or not streaming; one that cannot be reached
   is skipped for ``DATABASE_REPLICA_RETRY_SECONDS`` (reads fall back to the primary, not a
   500). So what a replica serves is at most MAX_LAG + CHECK seconds old.

``primary_reads()`` turns the scope off inside it (cache fills that something invalidates
on write); ``stay_on_primary()`` turns the current scope off for the rest of it (a list
filtered by stock). A ``replica_reads()`` inside another scope joins it, so a page reads one
replica. Writes always go to the primary; migrations run only there.
"""

from __future__ import annotations

import contextvars
import functools
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import structlog
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = structlog.get_logger("joopang.db")

#: Apps whose models may be read from a replica inside ``replica_reads()``.
REPLICA_APPS = frozenset({"catalog"})
#: How often (seconds) a process measures a replica's lag.
REPLICA_CHECK_SECONDS = 1.0

#: The standby's lag in seconds: 0 when it has replayed all it received while streaming;
#: otherwise the age of the last transaction it replayed. NULL (skipped) when it is a standby
#: that receives nothing (its primary unreachable: it falls behind without knowing how far).
#: A server that is not in recovery (a primary named as a replica, as in tests) has no lag.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN NULL
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _Scope:
    enabled: bool
    parent: _Scope | None = None
    alias: str | None = None  # the replica this scope reads (chosen at its first read)
    wrote: bool = False


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("joopang_replica_scope", default=None)


def replica_aliases() -> list[str]:
    from django.conf import settings

    return [alias for alias in settings.DATABASES if alias.startswith("replica")]


class _Health:
    """Per process: when each replica was last checked, and until when it is skipped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checked_at: dict[str, float] = {}
        self.skipped_until: dict[str, float] = {}

    def reset(self) -> None:
        with self._lock:
            self.checked_at.clear()
            self.skipped_until.clear()

    def skip(self, alias: str, seconds: float, reason: str) -> None:
        with self._lock:
            self.skipped_until[alias] = time.monotonic() + seconds
        logger.warning("db.replica_skipped", alias=alias, reason=reason, seconds=seconds)

    def fail(self, alias: str, reason: str) -> None:
        """``alias`` failed: drop its connection, skip it for ``DATABASE_REPLICA_RETRY_SECONDS``."""
        from django.conf import settings

        connections[alias].close()
        self.skip(alias, settings.DATABASE_REPLICA_RETRY_SECONDS, reason)

    def usable(self, alias: str) -> bool:
        """Is ``alias`` up and close behind? Connects (or health-checks the persistent
        connection) and measures the lag at most every ``REPLICA_CHECK_SECONDS``."""
        from django.conf import settings

        now = time.monotonic()
        if self.skipped_until.get(alias, 0.0) > now:
            return False
        conn = connections[alias]
        try:
            conn.close_if_health_check_failed()
            conn.ensure_connection()
            if now - self.checked_at.get(alias, float("-inf")) < REPLICA_CHECK_SECONDS:
                return True
            lag = 0.0
            if conn.vendor == "postgresql":
                with conn.cursor() as cursor:
                    cursor.execute(LAG_SQL)
                    row = cursor.fetchone()
                lag = float("inf") if row is None or row[0] is None else float(row[0])
        except (OperationalError, InterfaceError) as exc:
            self.fail(alias, f"unreachable: {exc}"[:200])
            return False
        self.checked_at[alias] = now
        if lag > settings.DATABASE_REPLICA_MAX_LAG_SECONDS:
            # checked again at the next interval: a replica catching up comes back soon
            self.skip(alias, REPLICA_CHECK_SECONDS, f"lag {lag:.1f}s")
            return False
        return True


health = _Health()


def _pick_replica() -> str | None:
    aliases = replica_aliases()
    if len(aliases) > 1:
        aliases = random.sample(aliases, len(aliases))  # load spreading
    for alias in aliases:
        if health.usable(alias):
            return alias
    return None


@contextmanager
def _scoped(enabled: bool) -> Iterator[_Scope]:
    outer = _scope.get()
    if enabled and outer is not None:
        # replica_reads() inside another scope joins it: one replica (or the primary) for
        # the whole page, and an outer primary_reads() stays the primary's
        yield outer
        return
    scope = _Scope(enabled, parent=outer)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


class _ScopeSwitch:
    """``replica_reads()`` / ``primary_reads()``: a context manager and a decorator. As a
    decorator of a read (a selector or a GET view), a replica that fails while the call runs
    is skipped and the call is run once more on the primary."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._stack: list[AbstractContextManager[_Scope]] = []

    def __enter__(self) -> _Scope:
        context = _scoped(self.enabled)
        scope = context.__enter__()
        self._stack.append(context)
        return scope

    def __exit__(self, *exc: Any) -> None:
        self._stack.pop().__exit__(*exc)

    def __call__(self, func: F) -> F:
        enabled = self.enabled

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _scoped(enabled) as scope:
                try:
                    return func(*args, **kwargs)
                except (OperationalError, InterfaceError):
                    failed = scope.alias
                    if failed is None:
                        raise  # only the primary was read: nothing to fall back to
                    # the rest of the scope (and of an outer one it joined) reads the primary
                    scope.enabled = False
                    health.fail(failed, "failed during a read")
                return func(*args, **kwargs)  # once more, on the primary

        return cast(F, wrapper)


def replica_reads() -> _ScopeSwitch:
    """Catalog reads inside may come from a replica (module docstring)."""
    return _ScopeSwitch(True)


def primary_reads() -> _ScopeSwitch:
    """Reads inside come from the primary, even within ``replica_reads()``."""
    return _ScopeSwitch(False)


def current_read_alias() -> str | None:
    """The replica the current scope reads, if it has read one (for logs and tests)."""
    scope = _scope.get()
    return scope.alias if scope is not None else None


class ReplicaRouter:
    """``DATABASE_ROUTERS``: the primary for everything, a replica for catalog reads inside
    ``replica_reads()`` (module docstring)."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        scope = _scope.get()
        if scope is None or not scope.enabled or scope.wrote:
            return DEFAULT_DB_ALIAS
        if model._meta.app_label not in REPLICA_APPS:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS  # a transaction reads its own snapshot, and its writes
        if scope.alias is None:
            scope.alias = _pick_replica()
            if scope.alias is None:
                scope.enabled = False  # none usable: the rest of the scope reads the primary
                return DEFAULT_DB_ALIAS
        return scope.alias

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        scope = _scope.get()
        while scope is not None:  # read-your-writes for the enclosing scopes too
            scope.wrote = True
            scope = scope.parent
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # a replica holds the primary's rows: objects read from either may be related
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


def stay_on_primary() -> None:
    """The rest of the current ``replica_reads()`` scope reads the primary (e.g. a list
    filtered by stock: the stock subquery runs inside the listing query)."""
    scope = _scope.get()
    if scope is not None:
        scope.enabled = False
