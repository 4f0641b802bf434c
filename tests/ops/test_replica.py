"""A real streaming replica (issue 25 item 5): catalog reads hit it, writes and stock do not,
and a replica that goes down is passed over for the primary (no 500).

The machine's PostgreSQL is never touched (others use it): the test starts a throwaway
primary of its own with ``initdb`` on a free port (``wal_level=replica``, replication
trusted from 127.0.0.1), clones it with ``pg_basebackup -R`` into a hot standby on another
free port, and runs a child Django process against them (``DATABASE_URL`` = the primary,
``DATABASE_REPLICA_URLS`` = the standby, as an operator would configure it). The primary
gets the test database's schema (``pg_dump``: built by the project's migrations; migrating
an empty database again would take most of the time budget); the child runs ``migrate`` on
the primary (nothing pending), creates a product, its stock and a sale through the services, waits until
the standby has replayed that (``pg_last_wal_replay_lsn``), then serves the catalog API and
pages through the Django test client while recording every query per database alias
(``CaptureQueriesContext``), stops the standby, and serves them again.

Runs as root in CI: the PostgreSQL binaries run as the ``postgres`` OS user through
``runuser``. Skipped on SQLite (CI's first run) and where the binaries are missing.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow]

TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "pg_dump", "psql")


def _bindir() -> Path | None:
    candidates = [os.environ.get("PG_BINDIR", "")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and all((Path(candidate) / tool).exists() for tool in TOOLS):
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """Two throwaway PostgreSQL servers: a primary and its streaming standby."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_postgres: list[str] = []
        self.owner: tuple[int, int] | None = None
        if os.geteuid() == 0:  # initdb refuses root: run the server binaries as postgres
            user = pwd.getpwnam("postgres")
            self.as_postgres = [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]
            self.owner = (user.pw_uid, user.pw_gid)
        self.tmp = Path(tempfile.mkdtemp(prefix="joopang-replica-"))
        if self.owner:
            os.chown(self.tmp, *self.owner)
        self.primary_dir, self.standby_dir = self.tmp / "primary", self.tmp / "standby"
        self.primary_port, self.standby_port = _free_port(), _free_port()
        self.started: list[Path] = []

    def run(self, tool: str, *args: str, timeout: float = 60) -> None:
        argv = [*self.as_postgres, str(self.bindir / tool), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{tool} failed ({done.returncode}): {done.stdout}\n{done.stderr}")

    def ctl_argv(self, data_dir: Path, *args: str) -> list[str]:
        return [*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(data_dir), *args]

    def _start(self, data_dir: Path) -> None:
        self.run("pg_ctl", "-D", str(data_dir), "-l", str(self.tmp / f"{data_dir.name}.log"), "-w", "start")
        self.started.append(data_dir)

    def start(self) -> None:
        self.run("initdb", "-D", str(self.primary_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        settings = [
            f"port = {self.primary_port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.tmp}'",
            "wal_level = replica",
            "max_wal_senders = 4",
            "fsync = off",  # a throwaway cluster
            "full_page_writes = off",
            "shared_buffers = 32MB",
        ]
        self._append(self.primary_dir / "postgresql.conf", settings)
        self._append(self.primary_dir / "pg_hba.conf", ["host replication all 127.0.0.1/32 trust"])
        self._start(self.primary_dir)
        self.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres"),
            *("-D", str(self.standby_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        # the copy carries the primary's settings; the last "port" line wins
        self._append(
            self.standby_dir / "postgresql.conf", [f"port = {self.standby_port}", "hot_standby = on"]
        )
        self._start(self.standby_dir)

    def _append(self, path: Path, lines: list[str]) -> None:
        with path.open("a") as fh:
            fh.write("\n" + "\n".join(lines) + "\n")

    def stop(self) -> None:
        for data_dir in reversed(self.started):
            subprocess.run(
                self.ctl_argv(data_dir, "-m", "immediate", "-w", "stop"), capture_output=True, check=False
            )
        shutil.rmtree(self.tmp, ignore_errors=True)

    def url(self, port: int, db: str = "joopang") -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{db}"


@pytest.fixture
def cluster():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://... (CI's second run does)")
    bindir = _bindir()
    if bindir is None:
        pytest.skip(f"needs the PostgreSQL server binaries ({', '.join(TOOLS)}; set PG_BINDIR)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("runs the server as the postgres OS user, which does not exist here")
        if shutil.which("runuser") is None:
            pytest.skip("needs runuser to start PostgreSQL as the postgres user")
    started = Cluster(bindir)
    try:
        started.start()
        yield started
    finally:
        started.stop()


def _copy_test_schema(cluster: Cluster) -> None:
    """The test database's schema and migration rows into the throwaway primary: pytest-django
    built it with the project's migrations, and migrating an empty database again costs
    15-55 s on this kind of machine. The child then runs ``migrate`` on the primary, which
    finds nothing pending (and would apply whatever were)."""
    import psycopg

    with psycopg.connect(cluster.url(cluster.primary_port, "postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE joopang")
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    source = [str(cluster.bindir / "pg_dump"), "--no-owner", "--no-privileges"]
    source += ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"], db["NAME"]]
    target = [str(cluster.bindir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", cluster.url(cluster.primary_port)]
    dump = subprocess.run(source, capture_output=True, env=env, timeout=120, check=False)
    assert dump.returncode == 0, dump.stderr.decode()[-2000:]
    load = subprocess.run(target, input=dump.stdout, capture_output=True, timeout=120, check=False)
    assert load.returncode == 0, load.stderr.decode()[-2000:]


@pytest.mark.django_db  # the test database exists (its schema is copied)
def test_catalog_reads_hit_the_streaming_replica_and_fall_back_when_it_is_down(cluster):
    _copy_test_schema(cluster)
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"REDIS_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATA_PLATFORM_WEBHOOK_URL"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "joopang.settings.test",
            "DATABASE_URL": cluster.url(cluster.primary_port),
            "DATABASE_REPLICA_URLS": cluster.url(cluster.standby_port),
            "VAR_DIR": str(cluster.tmp / "var"),
            "REPLICA_TEST_STOP": json.dumps(
                cluster.ctl_argv(cluster.standby_dir, "-m", "fast", "-w", "stop")
            ),
        }
    )
    child = subprocess.run(
        [sys.executable, "-c", "from tests.ops.test_replica import child_main; child_main()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-5000:]
    report: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))  # shown with -s or on failure

    # the replica is the standby: another server, in recovery, on its own port
    assert report["replica"] == {"port": str(cluster.standby_port), "in_recovery": True}
    assert report["primary"] == {"port": str(cluster.primary_port), "in_recovery": False}
    assert report["replayed"] is True

    # catalog reads were served by the standby; stock was read from the primary
    for page in ("api_list", "api_detail", "html_product", "html_category", "api_popular"):
        seen = report["pages"][page]
        assert seen["status"] == 200, (page, seen)
        assert seen["replica_catalog"] > 0, (page, seen)
        assert seen["primary_catalog_lists"] == 0, (page, seen)
        assert seen["replica_stock"] == 0, (page, seen)
    for page in ("api_list", "api_detail", "html_product", "html_category", "api_popular"):
        assert report["pages"][page]["primary_stock"] > 0, page
    assert report["pages"]["api_popular"]["replica_ranking"] == 1  # the top 5's ranking too
    # the product's stock shows on the card, read from the primary
    assert report["pages"]["api_list"]["in_stock"] is True
    # a list filtered by stock stays on the primary (the stock subquery is part of it)
    in_stock_only = report["pages"]["api_list_in_stock"]
    assert in_stock_only["status"] == 200
    assert in_stock_only["replica_catalog"] == 0 and in_stock_only["primary_catalog_lists"] > 0

    # a write inside the scope went to the primary (a standby refuses writes), and the rest of
    # the scope read the primary: read-your-writes
    assert report["write"]["renamed_on_primary"] == "Runner v2"
    assert report["write"]["read_after_write_alias"] == "default"
    assert report["write"]["replica_caught_up_to"] == "Runner v2"

    # the standby stopped: the same pages are served from the primary, no error. The first
    # request finds the persistent connection dead at its health check and cannot reconnect,
    # so the replica is skipped; no query reaches it. (A read whose replica dies while it runs
    # is run again on the primary: tests/core/test_db_router.py.)
    for page, seen in report["down"].items():
        assert seen["status"] == 200, (page, seen)
        assert seen["replica_queries"] == 0, (page, seen)
        assert seen["primary_catalog_lists"] > 0, (page, seen)
    assert report["down_skipped"] is True
    assert report["down_seconds"] < 10


# --- the child process (a Django configured with the primary and the standby) ---------------

#: a query reading the catalog's tables (a stock query joins catalog_sku, but reads from stock)
CATALOG_LIST_TABLES = ('FROM "catalog_productlisting"', 'FROM "catalog_product"', 'FROM "catalog_sku"')
RANKING_TABLE = 'FROM "catalog_productsalesdaily"'
STOCK_TABLE = 'FROM "inventory_stocklevel"'


def child_main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)  # on the primary; nothing pending
    report: dict[str, Any] = {"migrate_seconds": time.monotonic() - started}
    for alias, key in (("replica0", "replica"), ("default", "primary")):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            report[key] = {
                "port": str(connections[alias].settings_dict["PORT"]),
                "in_recovery": cursor.fetchone()[0],
            }

    product = _child_catalog()
    report["replayed"] = _wait_for_replay()

    from django.test import Client

    client = Client()
    urls = {
        "api_list": "/api/v1/products",
        "api_list_in_stock": "/api/v1/products?in_stock=true",
        "api_detail": f"/api/v1/products/{product.pk}",
        "api_popular": "/api/v1/products/popular",
        "html_product": f"/p/{product.pk}/{product.slug}/",
        "html_category": "/c/runners/",
    }
    report["pages"] = {name: _served(client, url) for name, url in urls.items()}
    report["write"] = _child_write(product)

    stop = json.loads(os.environ["REPLICA_TEST_STOP"])
    subprocess.run(stop, check=True, capture_output=True, timeout=60)
    started = time.monotonic()
    report["down"] = {
        name: _served(client, urls[name]) for name in ("api_list", "api_detail", "html_category")
    }
    report["down_seconds"] = time.monotonic() - started
    from joopang.db_router import health

    report["down_skipped"] = health.skipped_until.get("replica0", 0) > time.monotonic()
    print(json.dumps(report))


def _child_catalog() -> Any:
    from apps.catalog import services
    from apps.catalog.services import PriceSpec, SkuSpec
    from apps.inventory.services import stock_level_create, warehouse_create
    from apps.markets.models import Market

    kr = Market.objects.get(code="KR")
    category = services.category_create(slug="runners", name_ko="러닝화", name_en="Runners")
    product = services.product_create(
        category=category,
        name_ko="러너",
        name_en="Runner",
        skus=[SkuSpec(code="RUN-1", options={"size": "240"}, prices={"KR": PriceSpec(12900)})],
    )
    warehouse = warehouse_create(code="KR-A", name="Icheon", market=kr)
    stock_level_create(sku_id=product.skus.get().pk, warehouse=warehouse, on_hand=5)
    services.product_sales_record(product_id=product.pk, market_code="KR", units=2)  # the top 5
    return product


def _wait_for_replay(timeout: float = 30) -> bool:
    """Until the standby has replayed everything the primary has written so far."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        target = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connections["replica0"].cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0", [target])
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.1)
    return False


def _capture_class() -> Any:
    from django.core.signals import request_started
    from django.db import reset_queries
    from django.test.utils import CaptureQueriesContext

    class Capture(CaptureQueriesContext):
        """CaptureQueriesContext without its ensure_connection(): the replica may be down."""

        def __enter__(self) -> Capture:
            self.force_debug_cursor = self.connection.force_debug_cursor
            self.connection.force_debug_cursor = True
            self.initial_queries = len(self.connection.queries_log)
            self.final_queries = None
            request_started.disconnect(reset_queries)
            return self

    return Capture


def _capture(conn: Any) -> Any:  # (the class is made on first use: Django is set up by then)
    return _capture_class()(conn)


def _served(client: Any, url: str) -> dict[str, Any]:
    from django.db import close_old_connections, connections

    # What the real handler does at request start (the test client leaves it out to keep a
    # test's connections): persistent connections are health-checked again by their next use.
    close_old_connections()
    # Every page reads the database: the read cache (which one page's rows would serve to
    # the next, e.g. the product's to both its API detail and its page) is emptied first.
    from django.core.cache import cache

    cache.clear()
    with _capture(connections["default"]) as primary, _capture(connections["replica0"]) as replica:
        response = client.get(url, HTTP_X_MARKET="KR")

    def count(queries: Any, tables: tuple[str, ...]) -> int:
        return sum(
            1
            for q in queries
            if q["sql"].lstrip().upper().startswith("SELECT") and any(t in q["sql"] for t in tables)
        )

    lag_sql = "pg_is_in_recovery"
    replica_queries = [q for q in replica.captured_queries if lag_sql not in q["sql"]]
    seen = {
        "status": response.status_code,
        "replica_queries": len(replica_queries),
        "replica_catalog": count(replica_queries, CATALOG_LIST_TABLES),
        "replica_ranking": count(replica_queries, (RANKING_TABLE,)),
        "replica_stock": count(replica_queries, (STOCK_TABLE,)),
        "primary_catalog_lists": count(primary.captured_queries, CATALOG_LIST_TABLES),
        "primary_stock": count(primary.captured_queries, (STOCK_TABLE,)),
    }
    if url == "/api/v1/products" and response.status_code == 200:
        seen["in_stock"] = response.json()["results"][0]["in_stock"]
    return seen


def _child_write(product: Any) -> dict[str, Any]:
    from django.db import connections

    from apps.catalog import services
    from apps.catalog.models import Product
    from joopang.db_router import ReplicaRouter, replica_reads

    out: dict[str, Any] = {}
    with replica_reads():
        services.product_update(product=product, name_en="Runner v2")
        out["read_after_write_alias"] = ReplicaRouter().db_for_read(Product)
        out["renamed_on_primary"] = Product.objects.get(pk=product.pk).name_en
    _wait_for_replay()
    with connections["replica0"].cursor() as cursor:
        cursor.execute("SELECT name_en FROM catalog_product WHERE id = %s", [product.pk])
        out["replica_caught_up_to"] = cursor.fetchone()[0]
    return out
