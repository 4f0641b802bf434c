"""``apps.core.compiled``: a statement compiled once answers exactly what the ORM answers,
for every call's values, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.db import connection
from django.db.models import F, Q
from django.test.utils import CaptureQueriesContext

from apps.core.compiled import MAX_REMEMBERED_LIST, Compiled, CompiledUpdate, NotCompilable
from apps.core.models import IdempotencyKey

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _key(caller: str, key: str, *, status: int | None = None, minutes: int = 0) -> IdempotencyKey:
    return IdempotencyKey.objects.create(
        caller=caller,
        key=key,
        method="POST",
        path="/x",
        request_hash="h",
        response_status=status,
        locked_until=NOW + dt.timedelta(minutes=minutes),
        created_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
    )


BY_CALLER = Compiled(
    IdempotencyKey,
    lambda p: IdempotencyKey.objects.filter(caller=p.caller, locked_until__gte=p.since).order_by("key"),
)
KEYS_OF = Compiled(
    IdempotencyKey,
    lambda p: IdempotencyKey.objects.filter(caller__in=p.callers).order_by("pk").values_list("caller", "key"),
)


def test_rows_are_the_querysets_for_every_value() -> None:
    for n in range(3):
        _key("a", f"k{n}", minutes=n)
    _key("b", "other")
    for caller, since, expected in [
        ("a", NOW, ["k0", "k1", "k2"]),
        ("a", NOW + dt.timedelta(minutes=1), ["k1", "k2"]),
        ("b", NOW, ["other"]),
        ("c", NOW, []),
    ]:
        rows = BY_CALLER.fetch(caller=caller, since=since)
        orm = list(IdempotencyKey.objects.filter(caller=caller, locked_until__gte=since).order_by("key"))
        assert [r.key for r in rows] == expected == [r.key for r in orm]
        assert [r.locked_until for r in rows] == [r.locked_until for r in orm]  # converted alike
        assert all(isinstance(r, IdempotencyKey) and r._state.adding is False for r in rows)


def test_values_list_and_list_lengths_are_shapes() -> None:
    _key("a", "1")
    _key("b", "2")
    _key("c", "3")
    assert KEYS_OF.fetch(callers=["a"]) == [("a", "1")]
    assert KEYS_OF.fetch(callers=["c", "a"]) == [("a", "1"), ("c", "3")]
    assert KEYS_OF.fetch(callers=["b", "zz", "c"]) == [("b", "2"), ("c", "3")]
    assert KEYS_OF.fetch(callers=[]) == []
    assert len(KEYS_OF._entries) == 3  # one statement per list length


def test_a_longer_list_than_remembered_is_answered_but_not_kept() -> None:
    _key("a", "1")
    _key("b", "2")
    many = ["a", *(f"x{n}" for n in range(MAX_REMEMBERED_LIST)), "b"]
    lookup = Compiled(
        IdempotencyKey,
        lambda p: (
            IdempotencyKey.objects.filter(caller__in=p.callers).order_by("pk").values_list("caller", "key")
        ),
    )
    bump = CompiledUpdate(
        IdempotencyKey,
        lambda p: (IdempotencyKey.objects.filter(caller__in=p.callers), {"response_status": p.status}),
    )
    assert lookup.fetch(callers=many) == [("a", "1"), ("b", "2")]
    assert bump.execute(callers=many, status=299) == 2
    assert lookup._entries == {} and bump._entries == {}  # a batch's size is not a shape to keep
    assert lookup.fetch(callers=many[:MAX_REMEMBERED_LIST]) == [("a", "1")]
    assert len(lookup._entries) == 1
    assert set(IdempotencyKey.objects.values_list("response_status", flat=True)) == {299}


def test_column_converters_are_looked_up_once_per_connection_and_still_applied(monkeypatch) -> None:
    """Django asks the compiler for its converters on every execution; a compiled read
    answers from what it found on the first (per connection), and later rows are converted
    all the same (an aware datetime, a JSON document)."""
    from django.db.models.sql.compiler import SQLCompiler

    _key("a", "1", minutes=1)
    IdempotencyKey.objects.filter(key="1").update(response_body={"ok": [1, 2]})
    asked: list[int] = []
    original = SQLCompiler.get_converters

    def counting(self, expressions):  # type: ignore[no-untyped-def]
        asked.append(len(expressions))
        return original(self, expressions)

    monkeypatch.setattr(SQLCompiler, "get_converters", counting)
    lookup = Compiled(IdempotencyKey, lambda p: IdempotencyKey.objects.filter(caller=p.caller).order_by("pk"))
    rows = [lookup.fetch(caller="a")[0] for _ in range(3)]
    assert len(asked) == 1  # the first call's; the next two reuse it
    orm = IdempotencyKey.objects.get(key="1")
    for row in rows:
        assert row.locked_until == orm.locked_until == NOW + dt.timedelta(minutes=1)
        assert row.response_body == orm.response_body == {"ok": [1, 2]}
    (entry,) = lookup._entries.values()
    assert list(entry.converters) == [connection]


def test_the_statement_is_compiled_once_and_sent_as_is() -> None:
    _key("a", "1")
    BY_CALLER.fetch(caller="a", since=NOW)
    with CaptureQueriesContext(connection) as first:
        BY_CALLER.fetch(caller="a", since=NOW)
    with CaptureQueriesContext(connection) as second:
        BY_CALLER.fetch(caller="zz", since=NOW)
    assert len(first) == len(second) == 1
    assert "zz" not in first[0]["sql"] and ("zz" in second[0]["sql"] or connection.vendor == "sqlite")


def test_update_counts_and_writes_like_the_orm() -> None:
    rows = [_key("a", str(n), status=200) for n in range(3)]
    bump = CompiledUpdate(
        IdempotencyKey,
        lambda p: (
            IdempotencyKey.objects.filter(Q(pk__in=p.pks) & Q(response_status=p.was)),
            {"response_status": F("response_status") + p.by, "completed_at": p.at},
        ),
    )
    assert bump.execute(pks=[rows[0].pk, rows[1].pk], was=200, by=1, at=NOW) == 2
    assert bump.execute(pks=[rows[0].pk, rows[2].pk], was=200, by=5, at=NOW) == 1
    assert bump.execute(pks=[], was=200, by=5, at=NOW) == 0
    statuses = dict(IdempotencyKey.objects.values_list("key", "response_status"))
    assert statuses == {"0": 201, "1": 201, "2": 205}
    assert IdempotencyKey.objects.get(key="2").completed_at == NOW


def test_a_value_the_sql_rewrites_is_refused_when_compiled() -> None:
    contains = Compiled(IdempotencyKey, lambda p: IdempotencyKey.objects.filter(key__contains=p.part))
    with pytest.raises(NotCompilable):
        contains.fetch(part="x")
    constant = Compiled(IdempotencyKey, lambda p: IdempotencyKey.objects.filter(caller=p.flag))
    with pytest.raises(NotCompilable):
        constant.fetch(flag=True)  # booleans are constants of the builder


def test_uuid_values() -> None:
    from apps.orders.models import Order

    probe = Compiled(
        Order, lambda p: Order.objects.filter(public_id=p.public_id).values_list("pk", flat=True)
    )
    assert probe.fetch(public_id=uuid.uuid4()) == []


def test_insert_writes_the_row_the_orm_would_and_returns_its_key() -> None:
    from django.db import IntegrityError, transaction

    from apps.core.compiled import insert

    row = insert(
        IdempotencyKey(
            caller="a",
            key="k",
            method="POST",
            path="/x",
            request_hash="h",
            response_body={"é": [1, "두"]},
            response_headers={"Location": "/y"},
            locked_until=NOW,
            created_at=NOW,
            expires_at=NOW + dt.timedelta(hours=1),
        )
    )
    assert row.pk is not None and row._state.adding is False
    stored = IdempotencyKey.objects.get(pk=row.pk)
    assert (stored.caller, stored.key, stored.state, stored.response_body, stored.response_headers) == (
        "a",
        "k",
        IdempotencyKey.State.IN_PROGRESS,  # the field's default, prepared like the ORM's
        {"é": [1, "두"]},
        {"Location": "/y"},
    )
    assert stored.locked_until == NOW
    from apps.core import compiled

    assert compiled._INSERTS[(IdempotencyKey, "default", False)] is not None  # compiled, not save()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(_key_a_k())
    assert IdempotencyKey.objects.count() == 1


def _key_a_k(**fields: Any) -> IdempotencyKey:
    """A new key row for caller "a", key "k" (unique together), ``fields`` on top."""
    return IdempotencyKey(
        caller="a",
        key="k",
        method="POST",
        path="/x",
        request_hash="h",
        locked_until=NOW,
        created_at=NOW,
        expires_at=NOW,
        **fields,
    )


def test_insert_unless_taken_inserts_a_free_row_and_leaves_a_taken_one_alone() -> None:
    from django.db import transaction

    from apps.core import compiled
    from apps.core.compiled import insert_unless_taken

    first = _key_a_k(response_body={"n": 1})
    with transaction.atomic():
        assert insert_unless_taken(first) is True
    assert first.pk is not None and first._state.adding is False
    assert compiled._INSERTS[(IdempotencyKey, "default", True)] is not None  # compiled, not save()
    taken = _key_a_k(response_body={"n": 2})
    with transaction.atomic():  # no error: the transaction goes on, as a claim's must
        assert insert_unless_taken(taken) is False
        assert IdempotencyKey.objects.filter(caller="a").count() == 1
    assert taken.pk is None and taken._state.adding is True
    assert list(IdempotencyKey.objects.values_list("pk", "response_body")) == [(first.pk, {"n": 1})]


def test_insert_many_returns_keys_in_order_and_stores_each_row() -> None:
    from apps.core.compiled import insert_many

    def keys(n: int, tag: str) -> list[IdempotencyKey]:
        return [
            IdempotencyKey(
                caller=tag,
                key=str(i),
                method="POST",
                path="/x",
                request_hash="h",
                response_body={"n": i},
                locked_until=NOW,
                created_at=NOW,
                expires_at=NOW,
            )
            for i in range(n)
        ]

    for tag in ("a", "b"):  # the second call of the shape runs the compiled statement
        made = insert_many(keys(3, tag))
        assert all(k.pk is not None and k._state.adding is False for k in made)
        stored = {k.pk: (k.caller, k.key, k.response_body) for k in IdempotencyKey.objects.filter(caller=tag)}
        assert [stored[k.pk] for k in made] == [(tag, str(i), {"n": i}) for i in range(3)]
    assert insert_many([]) == []
    from apps.core import compiled

    assert compiled._INSERT_MANY[(IdempotencyKey, "default", 3)] is not None  # compiled, not the ORM's


@pytest.mark.django_db(transaction=True)  # autocommit between the test's statements
def test_a_locking_read_outside_a_transaction_is_refused_like_the_orms(require_postgres) -> None:
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    locked = Compiled(
        IdempotencyKey,
        lambda p: IdempotencyKey.objects.filter(caller=p.caller).select_for_update(),
        write=True,
    )
    _key("a", "1")
    with transaction.atomic():
        assert [k.key for k in locked.fetch(caller="a")] == ["1"]
    with pytest.raises(TransactionManagementError):
        locked.fetch(caller="a")
