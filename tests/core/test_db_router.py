"""The read-replica router (joopang/db_router.py): which reads may leave the primary.

The routing rules are checked with a replica alias declared for the test (its health
stubbed); the health checks themselves with aliases that point at nothing (connection
refused) and, on PostgreSQL, at a server that is not a standby. A real streaming replica:
tests/ops/test_replica.py.
"""

from __future__ import annotations

import socket

import pytest
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction

from apps.accounts.models import User
from apps.catalog.models import Category, Product, ProductListing, Sku
from apps.coupons.models import Coupon
from apps.inventory.models import StockLevel
from joopang import db_router
from joopang.db_router import ReplicaRouter, primary_reads, replica_reads, stay_on_primary

router = ReplicaRouter()


@pytest.fixture
def one_replica(monkeypatch):
    """``replica0`` declared and healthy (no connection is made)."""
    monkeypatch.setattr(db_router, "replica_aliases", lambda: ["replica0"])
    calls: list[str] = []

    def usable(alias: str) -> bool:
        calls.append(alias)
        return True

    monkeypatch.setattr(db_router.health, "usable", usable)
    return calls


def test_the_router_is_installed():
    from django.conf import settings

    assert settings.DATABASE_ROUTERS == ["joopang.db_router.ReplicaRouter"]


def test_outside_replica_reads_everything_reads_the_primary(one_replica):
    for model in (Product, ProductListing, Category, Sku, StockLevel, User):
        assert router.db_for_read(model) == DEFAULT_DB_ALIAS
    assert one_replica == []  # no replica was even looked at


def test_without_replicas_the_scope_reads_the_primary():
    with replica_reads():
        assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS
        assert db_router.current_read_alias() is None


def test_catalog_reads_in_the_scope_go_to_the_replica_and_the_rest_to_the_primary(one_replica):
    with replica_reads():
        assert router.db_for_read(ProductListing) == "replica0"
        assert router.db_for_read(Product) == "replica0"
        assert router.db_for_read(Category) == "replica0"
        # stock, coupons and members never: availability is the primary's
        assert router.db_for_read(StockLevel) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Coupon) == DEFAULT_DB_ALIAS
        assert router.db_for_read(User) == DEFAULT_DB_ALIAS
        assert db_router.current_read_alias() == "replica0"
    assert one_replica == ["replica0"]  # chosen once per scope, then sticky
    assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS  # the scope has ended


def test_an_instance_read_from_the_replica_is_written_to_the_primary(one_replica):
    product = Product(pk=1)
    product._state.db = "replica0"
    assert router.db_for_write(Product, instance=product) == DEFAULT_DB_ALIAS
    # and read back outside the scope from the primary (Django's default would follow the
    # instance to its database)
    assert router.db_for_read(Sku, instance=product) == DEFAULT_DB_ALIAS
    assert router.allow_relation(product, Sku()) is True


def test_a_write_in_the_scope_sends_the_rest_of_it_to_the_primary(one_replica):
    with replica_reads():
        assert router.db_for_read(ProductListing) == "replica0"
        assert router.db_for_write(Product) == DEFAULT_DB_ALIAS
        assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS  # read-your-writes
    with replica_reads():  # a new scope starts clean
        assert router.db_for_read(ProductListing) == "replica0"


def test_primary_reads_and_stay_on_primary_inside_the_scope(one_replica):
    with replica_reads():
        with primary_reads():
            assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS
        assert router.db_for_read(ProductListing) == "replica0"
        stay_on_primary()
        assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS


def test_decorated_reads_are_scoped(one_replica):
    @replica_reads()
    def read() -> str:
        return router.db_for_read(ProductListing)

    @primary_reads()
    def read_primary() -> str:
        return router.db_for_read(ProductListing)

    assert read() == "replica0"
    with replica_reads():
        assert read_primary() == DEFAULT_DB_ALIAS
    assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS


def test_nested_scopes_share_one_replica_and_a_write_anywhere_ends_it(monkeypatch):
    monkeypatch.setattr(db_router, "replica_aliases", lambda: ["replica0", "replica1"])
    picked: list[str] = []
    monkeypatch.setattr(db_router.health, "usable", lambda alias: picked.append(alias) or True)

    @replica_reads()
    def inner() -> str:
        return router.db_for_read(Product)

    with replica_reads():
        outer = router.db_for_read(ProductListing)
        assert inner() == outer  # joined: one replica per page
        assert len(picked) == 1
        with primary_reads():
            assert inner() == DEFAULT_DB_ALIAS  # an explicit primary scope stays the primary's
            router.db_for_write(Product)
        assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS  # the write counts outside too


@pytest.mark.django_db
def test_inside_a_transaction_the_scope_reads_the_primary(one_replica):
    # (a django_db test runs in a transaction; another atomic block nests in it)
    with transaction.atomic(), replica_reads():
        assert connections[DEFAULT_DB_ALIAS].in_atomic_block
        assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS


def test_no_usable_replica_means_the_primary(monkeypatch):
    monkeypatch.setattr(db_router, "replica_aliases", lambda: ["replica0", "replica1"])
    asked: list[str] = []
    monkeypatch.setattr(db_router.health, "usable", lambda alias: asked.append(alias) or False)
    with replica_reads():
        assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Product) == DEFAULT_DB_ALIAS
    assert sorted(asked) == ["replica0", "replica1"]  # each tried once, then the primary


def test_the_next_replica_is_used_when_one_is_down(monkeypatch):
    monkeypatch.setattr(db_router, "replica_aliases", lambda: ["replica0", "replica1"])
    monkeypatch.setattr(db_router.health, "usable", lambda alias: alias == "replica1")
    for _ in range(5):
        with replica_reads():
            assert router.db_for_read(ProductListing) == "replica1"


def test_migrations_run_only_on_the_primary():
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "catalog") is True
    assert router.allow_migrate("replica0", "catalog") is False
    assert router.allow_migrate("replica1", "orders", model_name="order") is False


def test_a_decorated_read_whose_replica_fails_runs_again_on_the_primary(one_replica, monkeypatch):
    skipped: list[tuple[str, str]] = []
    monkeypatch.setattr(db_router.health, "fail", lambda alias, reason: skipped.append((alias, reason)))
    runs: list[str] = []

    @replica_reads()
    def read() -> str:
        alias = router.db_for_read(ProductListing)
        runs.append(alias)
        if alias == "replica0":
            raise OperationalError("server closed the connection unexpectedly")
        return alias

    assert read() == DEFAULT_DB_ALIAS
    assert runs == ["replica0", DEFAULT_DB_ALIAS]
    assert skipped == [("replica0", "failed during a read")]


def test_a_failing_primary_is_not_retried(one_replica):
    runs: list[str] = []

    @replica_reads()
    def read() -> None:
        runs.append(router.db_for_read(StockLevel))  # the primary's
        raise OperationalError("primary down")

    with pytest.raises(OperationalError):
        read()
    assert runs == [DEFAULT_DB_ALIAS]


# --- health checks against real connections -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def extra_alias(monkeypatch, settings):
    """Declare a database alias for one test (removed afterwards)."""
    added: list[str] = []
    settings.DATABASE_REPLICA_RETRY_SECONDS = 30
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 5

    def add(alias: str, **overrides: object) -> str:
        config = dict(connections.settings[DEFAULT_DB_ALIAS])
        config["OPTIONS"] = {k: v for k, v in config.get("OPTIONS", {}).items() if k != "pool"}
        config.update(overrides)
        connections.settings[alias] = config
        added.append(alias)
        monkeypatch.setattr(db_router, "replica_aliases", lambda: list(added))
        return alias

    db_router.health.reset()
    yield add
    for alias in added:
        connections[alias].close()
        del connections[alias]
        connections.settings.pop(alias, None)
    db_router.health.reset()


def _unreachable(add, alias: str) -> str:
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return add(alias, HOST="127.0.0.1", PORT=str(_free_port()), OPTIONS={"connect_timeout": 2})
    return add(alias, NAME="/nonexistent-joopang-dir/replica.sqlite3")


def test_an_unreachable_replica_is_skipped_for_the_retry_period(extra_alias, django_db_blocker, monkeypatch):
    alias = _unreachable(extra_alias, "replica_down")
    attempts: list[str] = []
    conn = connections[alias]

    def counting() -> None:
        attempts.append(alias)
        type(conn).ensure_connection(conn)  # (looked up now: the blocker patches the class)

    monkeypatch.setattr(conn, "ensure_connection", counting)
    with django_db_blocker.unblock():
        with replica_reads():
            assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS
        with replica_reads():
            assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS
    assert attempts == [alias]  # the second scope did not try again (skipped for 30 s)
    assert db_router.health.skipped_until[alias] > 0


def test_a_reachable_server_is_usable_and_a_lagging_one_is_not(extra_alias, django_db_blocker, settings):
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the lag is measured with pg_last_wal_replay_lsn()")
    alias = extra_alias("replica_up", NAME="postgres")  # not a standby: no lag
    with django_db_blocker.unblock():
        assert db_router.health.usable(alias) is True
        with replica_reads():
            assert router.db_for_read(ProductListing) == alias
        settings.DATABASE_REPLICA_MAX_LAG_SECONDS = -1  # any lag is too much
        db_router.health.checked_at.clear()
        assert db_router.health.usable(alias) is False
        with replica_reads():
            assert router.db_for_read(ProductListing) == DEFAULT_DB_ALIAS
