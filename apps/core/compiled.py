"""Hot statements compiled once per process: the ORM's SQL without its per-call build cost.

Building a queryset (``filter``, ``Q``, ``Case``...) and compiling it to SQL costs more
CPU than sending it: on the checkout, building and compiling ~60 statements was over a
third of the Python each iteration spent. A statement that runs on every request with the
same shape only needs that work once. ``Compiled`` runs the ORM once per database alias
and *shape* with placeholder values (sentinels) in place of the call's values, remembers
the SQL, its parameters and the compiler's column layout, and on every later call
puts the real values where the sentinels were and sends the same SQL. The rows come back
through the same iterable classes as the queryset's (model instances with
``select_related`` objects and annotations, ``values()`` dicts or ``values_list()``
tuples), with the same field conversions. ``CompiledUpdate`` does the same for
``QuerySet.update()`` and answers the row count.

The shape is the call's value types and, for lists, their lengths: ``sku_id__in=[1, 2]``
and ``[1, 2, 3]`` are two compiled statements. ``accounts.permissions_sql`` did this by
hand for the member check; this is that, for any query.

Rules for a builder (checked when it is compiled, so a wrong one fails on its first call,
in the tests, never silently):

- every value the call varies is a keyword of the call and reaches the SQL unchanged (an
  ``exact``/``in``/comparison lookup, an ``update()`` value, ``Value()``); a lookup that
  rewrites its value (``contains`` adds ``%``) cannot be compiled and raises;
- each sentinel must appear exactly once among the parameters (so each keyword is used
  once in the builder);
- values are ``int``, ``str``, ``uuid.UUID``, ``datetime``/``date`` or lists of those;
  booleans and ``None`` belong in the builder as constants (they are part of the shape).

Never hand out the compiled queryset: chaining it (``.first()``, ``.filter()``) would
keep the cached SQL. ``Compiled.fetch`` returns a list.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import enum
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

from django.apps import apps as django_apps
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Model, QuerySet
from django.db.models.constants import OnConflict
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery, UpdateQuery
from django.db.models.sql.query import Query
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

#: Sentinel integers: inside every integer column type's range (a lookup with an
#: out-of-range integer compiles to "nothing matches"), far from everyday small numbers.
_INT_BASE = 30_517
_INT_STEP = 7


class NotCompilable(Exception):
    """The builder's SQL does not carry a call's value unchanged, exactly once."""


@dataclass(frozen=True)
class _Slot:
    index: int  # position in the parameters
    kind: str  # how a value becomes that parameter: "same", "hex", "datetime", "date", "wrap"
    wrap: type | None = None  # "wrap": the int type the backend put there (psycopg's ``Int4``)


@dataclass
class _Entry:
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, list[_Slot]]  # keyword -> its positions (a list: one per element)
    compiler: Any = None  # SELECT: the compiler after ``as_sql`` (columns, converters)
    template: QuerySet[Any] | None = None
    for_update: bool = False  # a locking read: only inside a transaction
    #: SELECT: the compiler's column converters, per connection (they are the connection's
    #: backend's and the fields' functions: the same for every call of this statement).
    converters: weakref.WeakKeyDictionary[Any, dict[int, Any]] = dataclasses.field(
        default_factory=weakref.WeakKeyDictionary
    )


#: A shape with a longer list is compiled for its call and not remembered: a batch (a sweep
#: of 500 rows) would otherwise leave one statement per size it ever saw in every process.
MAX_REMEMBERED_LIST = 64


def _remembered(shape: tuple[Any, ...]) -> bool:
    return all(not (len(part) == 4 and part[1] == "list" and part[3] > MAX_REMEMBERED_LIST) for part in shape)


def _shape(values: dict[str, Any]) -> tuple[Any, ...]:
    shape: list[Any] = []
    for name in sorted(values):
        value = values[name]
        if isinstance(value, list | tuple):
            kinds = {type(item) for item in value}
            if len(kinds) > 1:
                raise NotCompilable(f"{name}: a list of one type only")
            shape.append((name, "list", kinds.pop() if kinds else None, len(value)))
        else:
            shape.append((name, type(value)))
    return tuple(shape)


class _Sentinels:
    """Placeholder values for one shape, each distinct from every other."""

    def __init__(self) -> None:
        self.count = 0

    def make(self, sample: Any) -> Any:
        self.count += 1
        n = self.count
        if isinstance(sample, bool) or sample is None:
            raise NotCompilable("booleans and None are constants of the builder, not call values")
        if isinstance(sample, int):
            return _INT_BASE + _INT_STEP * n
        if isinstance(sample, str):
            return f"\u2063compiled-sentinel-{n}\u2063"
        if isinstance(sample, uuid.UUID):
            return uuid.UUID(int=0x5E471E1 << 64 | n)
        if isinstance(sample, dt.datetime):
            return dt.datetime(1901, 2, 3, 4, 5, 6, n, tzinfo=sample.tzinfo)
        if isinstance(sample, dt.date):
            return dt.date(1901, 1, 1) + dt.timedelta(days=n)
        raise NotCompilable(f"no sentinel for {type(sample).__name__}")


def _convert(slot: _Slot, value: Any, connection: Any) -> Any:
    kind = slot.kind
    if kind == "same":
        return value
    if kind == "wrap":
        assert slot.wrap is not None
        return slot.wrap(value)
    if kind == "hex":
        return value.hex
    if kind == "datetime":
        return connection.ops.adapt_datetimefield_value(value)
    if kind == "date":
        return connection.ops.adapt_datefield_value(value)
    raise AssertionError(kind)


def _representations(sentinel: Any, connection: Any) -> list[tuple[str, Any]]:
    reps: list[tuple[str, Any]] = [("same", sentinel)]
    if isinstance(sentinel, uuid.UUID):
        reps.append(("hex", sentinel.hex))
    elif isinstance(sentinel, dt.datetime):
        reps.append(("datetime", connection.ops.adapt_datetimefield_value(sentinel)))
    elif isinstance(sentinel, dt.date):
        reps.append(("date", connection.ops.adapt_datefield_value(sentinel)))
    return reps


def _find_slots(params: Sequence[Any], sentinels: dict[str, Any], connection: Any) -> dict[str, list[_Slot]]:
    slots: dict[str, list[_Slot]] = {}
    for name, sentinel in sentinels.items():
        found: list[_Slot] = []
        for item in sentinel if isinstance(sentinel, list) else [sentinel]:
            found_at: dict[int, _Slot] = {}  # by position: representations that agree count once
            for kind, rep in reversed(_representations(item, connection)):
                for index, param in enumerate(params):
                    if type(param) is type(rep) and param == rep:
                        found_at[index] = _Slot(index, kind)
                    elif (
                        type(rep) is int
                        and isinstance(param, int)
                        and not isinstance(param, bool)
                        and int(param) == rep
                    ):  # an int the backend typed (psycopg's ``Int4`` in an expression)
                        found_at[index] = _Slot(index, "wrap", type(param))
            hits = list(found_at.values())
            if len(hits) != 1:
                raise NotCompilable(
                    f"{name}: its value must reach the SQL unchanged, once (found {len(hits)} times)"
                )
            found.append(hits[0])
        slots[name] = found
    return slots


def _fill(entry: _Entry, values: dict[str, Any], connection: Any) -> list[Any]:
    params = list(entry.params)
    for name, slots in entry.slots.items():
        value = values[name]
        items = value if isinstance(value, list | tuple) else [value]
        for slot, item in zip(slots, items, strict=True):
            if isinstance(item, enum.Enum):  # a TextChoices member: its plain value
                item = item.value
            params[slot.index] = _convert(slot, item, connection)
    return params


def _sentinels_for(values: dict[str, Any]) -> tuple[dict[str, Any], SimpleNamespace]:
    maker = _Sentinels()
    sentinels: dict[str, Any] = {}
    for name in sorted(values):
        value = values[name]
        if isinstance(value, list | tuple):
            sentinels[name] = [maker.make(item) for item in value]
        else:
            sentinels[name] = maker.make(value)
    return sentinels, SimpleNamespace(**sentinels)


def _converters_of(entry: _Entry, compiler: Any, connection: Any) -> Callable[[Any], dict[int, Any]]:
    """``compiler.get_converters`` answered from ``entry`` for the statement's own columns:
    Django asks for them on every execution (``results_iter``), and looking them up for each
    column of a ``select_related`` row was a sixth of a compiled read's CPU."""
    original = compiler.get_converters
    columns = [column for column, *_rest in compiler.select[: compiler.col_count]]
    known = entry.converters.get(connection)
    if known is None:
        known = entry.converters[connection] = original(columns)

    def get_converters(expressions: Any) -> dict[int, Any]:
        # ``results_iter`` asks with this statement's columns (the same objects, a new list)
        if len(expressions) == len(columns) and (not columns or expressions[-1] is columns[-1]):
            return known
        return dict(original(expressions))

    return get_converters


class Compiled(Generic[M]):
    """A SELECT built by ``build(p)`` (``p.<keyword>`` are the call's values), compiled
    once per alias and shape. ``fetch(**values)`` returns the rows as the queryset would
    (a list). ``model`` picks the database alias (``router.db_for_read``)."""

    def __init__(
        self, model: type[M] | str, build: Callable[[Any], QuerySet[Any]], *, write: bool = False
    ) -> None:
        self._model = model  # or "app_label.Model", resolved on first use (no import cycle)
        self.build = build
        self.write = write  # a locking read: routed like a write (the primary)
        self._entries: dict[tuple[str, tuple[Any, ...]], _Entry] = {}

    @property
    def model(self) -> type[M]:
        if isinstance(self._model, str):
            self._model = django_apps.get_model(self._model)
        return self._model

    def _alias(self) -> str:
        if self.write:
            return router.db_for_write(self.model)
        return router.db_for_read(self.model)

    def _compile(self, alias: str, values: dict[str, Any]) -> _Entry:
        connection = connections[alias]
        sentinels, namespace = _sentinels_for(values)
        template = self.build(namespace).using(alias)
        compiler = template.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        return _Entry(
            sql=sql,
            params=tuple(params),
            slots=_find_slots(params, sentinels, connection),
            compiler=compiler,
            template=template,
            for_update=bool(template.query.select_for_update and connection.features.has_select_for_update),
        )

    def fetch(self, **values: Any) -> list[Any]:
        if any(isinstance(v, list | tuple) and not v for v in values.values()):
            return []  # ``__in=[]`` matches nothing; the ORM would not even ask
        alias = self._alias()
        key = (alias, _shape(values))
        entry = self._entries.get(key)
        if entry is None:
            entry = self._compile(alias, values)
            if _remembered(key[1]):
                self._entries[key] = entry
        connection = connections[alias]
        if entry.for_update and connection.get_autocommit():
            # What the ORM's compiler says, which the cached SQL no longer asks.
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = _fill(entry, values, connection)
        compiler = copy.copy(entry.compiler)
        compiler.connection = connection  # this thread's connection, not the compiling one's
        compiler.as_sql = lambda *args, **kwargs: (entry.sql, params)
        compiler.get_converters = _converters_of(entry, compiler, connection)
        assert entry.template is not None
        query = Query.__new__(Query)
        query.__dict__ = entry.template.query.__dict__.copy()
        query.get_compiler = lambda *args, **kwargs: compiler  # type: ignore[method-assign]
        qs = QuerySet.__new__(type(entry.template))
        # Not ``_chain()`` (no query clone), and not the ``query`` setter (it would turn a
        # ``values_list()`` into ``values()``).
        qs.__dict__ = {**entry.template.__dict__, "_query": query}
        qs._fetch_all()  # the queryset's own iterable (and prefetches, if any)
        return list(qs._result_cache or [])

    def first(self, **values: Any) -> Any:
        """The first row, or None (the builder orders and limits, e.g. ``[:1]``)."""
        rows = self.fetch(**values)
        return rows[0] if rows else None


class CompiledUpdate:
    """``QuerySet.update()`` built by ``build(p)`` returning ``(queryset, {field: value})``,
    compiled once per alias and shape; ``execute(**values)`` answers the row count."""

    def __init__(
        self, model: type[Model], build: Callable[[Any], tuple[QuerySet[Any], dict[str, Any]]]
    ) -> None:
        self.model = model
        self.build = build
        self._entries: dict[tuple[str, tuple[Any, ...]], _Entry] = {}

    def _compile(self, alias: str, values: dict[str, Any]) -> _Entry:
        connection = connections[alias]
        sentinels, namespace = _sentinels_for(values)
        qs, changes = self.build(namespace)
        query: Any = qs.using(alias).query.chain(UpdateQuery)
        query.add_update_values(changes)
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()  # runs pre_sql_setup
        if query.related_updates or getattr(query, "related_ids", None):
            raise NotCompilable("an update that needs another query first")
        return _Entry(sql=sql, params=tuple(params), slots=_find_slots(params, sentinels, connection))

    def execute(self, **values: Any) -> int:
        if any(isinstance(v, list | tuple) and not v for v in values.values()):
            return 0
        alias = router.db_for_write(self.model)
        key = (alias, _shape(values))
        entry = self._entries.get(key)
        if entry is None:
            entry = self._compile(alias, values)
            if _remembered(key[1]):
                self._entries[key] = entry
        connection = connections[alias]
        params = _fill(entry, values, connection)
        with connection.cursor() as cursor:
            cursor.execute(entry.sql, params)
            return int(cursor.rowcount)


@dataclass
class _Insert:
    sql: str
    fields: list[Any]
    returning: list[Any]
    returning_params: Any


_INSERTS: dict[tuple[type[Model], str, bool], _Insert | None] = {}


def _insert_entry(obj: Model, alias: str, unless_taken: bool = False) -> _Insert | None:
    """The single-row INSERT of ``obj``'s model, compiled once (None: not compilable, e.g.
    a field with its own placeholder; ``insert`` then saves through the ORM).
    ``unless_taken``: with ``ON CONFLICT DO NOTHING`` before its ``RETURNING``."""
    model, connection = type(obj), connections[alias]
    meta = model._meta
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    if any(hasattr(f, "get_placeholder") for f in fields):
        return None
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE if unless_taken else None)
    query.insert_values(fields, [obj], raw=False)
    compiler = query.get_compiler(using=alias)
    compiler.returning_fields = meta.db_returning_fields
    statements = compiler.as_sql()
    if len(statements) != 1:
        return None
    sql, params = statements[0]
    if len(params) != len(fields) or sql.count("%s") != len(fields):
        return None
    del connection
    return _Insert(sql, fields, list(meta.db_returning_fields), compiler.returning_params)


def _insert_values(obj: Model, entry: _Insert, connection: Any) -> list[Any] | None:
    """The INSERT's parameters as the ORM prepares them; None when one is an expression."""
    values: list[Any] = []
    for field in entry.fields:
        value = field.pre_save(obj, add=True)
        if hasattr(value, "resolve_expression"):
            return None
        values.append(field.get_db_prep_save(value, connection=connection))
    return values


def insert(obj: M) -> M:
    """``obj.save(force_insert=True)`` for a new row of a plain model (its auto primary key
    unset) without compiling the INSERT on every call: the statement is compiled once per
    model and alias, each call prepares the field values exactly as the ORM's INSERT does
    (``pre_save``, ``get_db_prep_save``) and reads back the returned columns. A model with
    ``pre_save``/``post_save`` receivers, or a value that is an expression, goes through
    ``save()`` instead (so receivers and expressions behave as they always do)."""
    model = type(obj)
    meta = model._meta
    alias = router.db_for_write(model, instance=obj)
    if (
        pre_save.has_listeners(model)
        or post_save.has_listeners(model)
        or meta.auto_field is None
        or meta.parents
        or obj.pk is not None
    ):
        obj.save(force_insert=True, using=alias)
        return obj
    obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]  # as save()
    key = (model, alias, False)
    if key not in _INSERTS:
        _INSERTS[key] = _insert_entry(obj, alias)
    entry = _INSERTS[key]
    connection = connections[alias]
    values = _insert_values(obj, entry, connection) if entry is not None else None
    if entry is None or values is None:
        obj.save(force_insert=True, using=alias)
        return obj
    ops: Any = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(entry.sql, values)
        if connection.features.can_return_columns_from_insert:
            row = ops.fetch_returned_insert_columns(cursor, entry.returning_params)
        else:
            row = (ops.last_insert_id(cursor, meta.db_table, meta.pk.column),)
    for value, field in zip(row, entry.returning, strict=False):
        setattr(obj, field.attname, value)
    obj._state.adding = False
    obj._state.db = alias
    return obj


def insert_unless_taken(obj: Model) -> bool:
    """Insert ``obj`` (a new row, as :func:`insert`) unless a unique rule already holds its
    place: ``INSERT … ON CONFLICT DO NOTHING RETURNING``, one statement. True if the row
    went in (its primary key set); False if a committed row, or one a concurrent
    transaction committed while this waited for it, has the same unique values.

    On SQLite the statement is ``INSERT OR IGNORE``, which also skips a row breaking a NOT
    NULL rule (a bug, not a race). For a caller inside a hot lock: the savepoint that
    catching an ``IntegrityError`` needs costs two more round trips, each spent holding
    that lock. A model with save receivers, or a value that is an expression, takes that
    savepoint path instead."""
    model = type(obj)
    meta = model._meta
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    entry = None
    if not (
        pre_save.has_listeners(model)
        or post_save.has_listeners(model)
        or meta.auto_field is None
        or meta.parents
        or obj.pk is not None
        or not connection.features.can_return_columns_from_insert
    ):
        obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
        key = (model, alias, True)
        if key not in _INSERTS:
            _INSERTS[key] = _insert_entry(obj, alias, unless_taken=True)
        entry = _INSERTS[key]
    values = _insert_values(obj, entry, connection) if entry is not None else None
    if entry is None or values is None:
        try:
            with transaction.atomic(using=alias):
                obj.save(force_insert=True, using=alias)
        except IntegrityError:
            return False
        return True
    ops: Any = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(entry.sql, values)
        row = ops.fetch_returned_insert_columns(cursor, entry.returning_params)
    if row is None:
        return False
    for value, field in zip(row, entry.returning, strict=False):
        setattr(obj, field.attname, value)
    obj._state.adding = False
    obj._state.db = alias
    return True


@dataclass
class _InsertMany:
    sql: str
    fields: list[Any]
    columns: bool  # True: one parameter per field holding its column (PostgreSQL's UNNEST)


_INSERT_MANY: dict[tuple[type[Model], str, int], _InsertMany | None] = {}


def _rows_of(objs: Sequence[Model], fields: list[Any], connection: Any) -> list[list[Any]] | None:
    rows = []
    for obj in objs:
        values = []
        for field in fields:
            value = field.pre_save(obj, add=True)
            if hasattr(value, "resolve_expression"):
                return None
            values.append(field.get_db_prep_save(value, connection=connection))
        rows.append(values)
    return rows


def _same(a: Any, b: Any) -> bool:
    """Equal parameters; an adapter wrapping a value (psycopg's ``Jsonb``) by what it wraps."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "obj") and not isinstance(a, str | int | float):
        return bool(a.obj == b.obj)
    return bool(a == b)


def _layout(rows: list[list[Any]], columns: bool) -> list[Any]:
    if columns:
        return [list(column) for column in zip(*rows, strict=True)]
    return [value for row in rows for value in row]


def insert_many(objs: Sequence[M]) -> list[M]:
    """``Model.objects.bulk_create(objs)`` for new rows of one plain model (auto primary
    keys unset, no conflicts clause, one batch) with the INSERT compiled once per model,
    alias and number of rows; the primary keys come back into ``objs``. The first call of
    a shape compiles the ORM's statement for these very objects and checks that the
    values it would send are the ones prepared here (else, and for anything unusual, the
    ORM's ``bulk_create`` does the work, as it always did)."""
    objs = list(objs)
    if not objs:
        return objs
    model = type(objs[0])
    meta = model._meta
    alias = router.db_for_write(model, instance=objs[0])
    connection = connections[alias]
    unusual = (
        pre_save.has_listeners(model)
        or meta.auto_field is None
        or meta.parents
        or any(type(obj) is not model or obj.pk is not None for obj in objs)
        or not connection.features.can_return_rows_from_bulk_insert
    )
    if unusual:
        return model._default_manager.using(alias).bulk_create(objs)
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    key = (model, alias, len(objs))
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    if key not in _INSERT_MANY:
        _INSERT_MANY[key] = None
        query = InsertQuery(model)
        query.insert_values(fields, list[Model](objs), raw=False)
        compiler = query.get_compiler(using=alias)
        compiler.returning_fields = meta.db_returning_fields
        statements = compiler.as_sql()
        rows = _rows_of(objs, fields, connection)
        if len(statements) == 1 and rows is not None:
            sql, params = statements[0]
            for columns in (True, False):
                if _same(list(params), _layout(rows, columns)):
                    _INSERT_MANY[key] = _InsertMany(sql, fields, columns)
                    break
    entry = _INSERT_MANY[key]
    rows = _rows_of(objs, fields, connection) if entry is not None else None
    if entry is None or rows is None:
        return model._default_manager.using(alias).bulk_create(objs)
    ops: Any = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(entry.sql, _layout(rows, entry.columns))
        returned = ops.fetch_returned_insert_rows(cursor)
    for obj, values in zip(objs, returned, strict=True):
        for value, field in zip(values, meta.db_returning_fields, strict=False):
            setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = alias
    return objs


__all__ = ["Compiled", "CompiledUpdate", "NotCompilable", "insert", "insert_many"]
