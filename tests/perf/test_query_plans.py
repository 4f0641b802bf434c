"""Every hot list query reads its large tables through an index (issue 25, item 4).

On a dataset big enough that PostgreSQL's planner prefers an index when one fits (8,000
products by ``seed_catalog``, 20,000 stock movements and outbox events by
``bench.growth.fill``, thousands of members, orders, carts and reservations; fresh
statistics by ANALYZE), each hot path runs for real (the API through the test client, the
selectors and the sweeps themselves) under ``CaptureQueriesContext``; every statement it
ran is then EXPLAINed (``FORMAT JSON``, no ANALYZE) and no plan node may be a sequential
scan of a table that grows with the business. The planner is left alone: no
``enable_seqscan = off``. A missing index shows as the query and its plan.

PostgreSQL only: SQLite's planner and indexes are not the production ones.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

#: Tables that grow with the catalog, the traffic or time; small ones (categories,
#: markets, warehouses, brands) may be read whole.
GROWING = {
    "catalog_product",
    "catalog_productlisting",
    "catalog_sku",
    "catalog_marketprice",
    "inventory_stocklevel",
    "inventory_stockmovement",
    "inventory_reservation",
    "core_outboxevent",
    "orders_order",
    "orders_orderline",
    "carts_cart",
    "carts_cartline",
    "accounts_user",
}
#: Enough that a search matching a few dozen products joins their listings by index
#: (with 3,000 products, 6,000 listings, a hash join over all of them is cheaper).
PRODUCTS = 8000
MEMBERS = 2000
ORDERS_PER_MEMBER = 10


def _build() -> dict[str, Any]:
    from bench.growth import fill

    call_command("seed_catalog", "--products", str(PRODUCTS), stdout=io.StringIO())
    fill(movements=20000, outbox=20000)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_user (password, is_superuser, email, name, locale, is_staff, is_active,
                                       date_joined, market_id, is_service_account, phone, phone_index)
            SELECT '!', false, 'plan' || g || '@example.com', 'Member ' || g, 'ko', false, true,
                   now() - g * interval '1 hour', 'KR', false, '', ''
            FROM generate_series(1, %(members)s) g
            """,
            {"members": MEMBERS},
        )
        cursor.execute("SELECT min(id) FROM accounts_user WHERE email LIKE 'plan%%@example.com'", [])
        first_user = int(cursor.fetchone()[0])
        # Orders: mostly paid long ago, a few pending past their pay-by time (the sweep's).
        cursor.execute(
            """
            INSERT INTO orders_order (public_id, number, currency, status, idempotency_key, request_hash,
                                      subtotal, sale_discount, coupon_discount, tax, tax_included, shipping_fee,
                                      total, refunded_amount, coupon_code, expires_at, created_at, updated_at,
                                      paid_at, market_id, user_id, from_cart)
            SELECT gen_random_uuid(), 'KR-PLAN-' || lpad(g::text, 7, '0'), 'KRW',
                   CASE WHEN g %% 1000 = 0 THEN 'pending' ELSE 'paid' END, 'plan-' || g, '',
                   10000, 0, 0, 909, true, 0, 10000, 0, '',
                   CASE WHEN g %% 1000 = 0 THEN now() - interval '1 hour'
                        ELSE now() - (g %% 500) * interval '1 day' + interval '30 minutes' END,
                   now() - (g %% 500) * interval '1 day', now() - (g %% 500) * interval '1 day',
                   CASE WHEN g %% 1000 = 0 THEN NULL ELSE now() - (g %% 500) * interval '1 day' END,
                   'KR', %(first)s + g %% %(members)s, false
            FROM generate_series(1, %(orders)s) g
            """,
            {"first": first_user, "members": MEMBERS, "orders": MEMBERS * ORDERS_PER_MEMBER},
        )
        cursor.execute(
            """
            INSERT INTO orders_orderline (position, sku_code, product_id_snapshot, name_ko, name_en, quantity,
                                          list_price, unit_price, coupon_share, tax_share, shipping_share,
                                          line_total, refunded_quantity, refunded_amount, order_id, sku_id)
            SELECT p.n, s.code, s.product_id, '상품', 'Product', 1, 5000, 5000, 0, 454, 0, 5000, 0, 0, o.id, s.id
            FROM orders_order o
            CROSS JOIN generate_series(0, 1) AS p(n)
            JOIN catalog_sku s ON s.id = (SELECT min(id) FROM catalog_sku) + (o.id * 7 + p.n) %% 5000
            WHERE o.number LIKE 'KR-PLAN-%%'
            """,
            [],
        )
        # A cart per member with three lines.
        cursor.execute(
            """
            INSERT INTO carts_cart (public_id, created_at, updated_at, market_id, user_id)
            SELECT gen_random_uuid(), now(), now(), 'KR', id FROM accounts_user
            WHERE email LIKE 'plan%%@example.com'
            """,
            [],
        )
        cursor.execute(
            """
            INSERT INTO carts_cartline (quantity, added_at, updated_at, cart_id, sku_id)
            SELECT 1, now(), now(), c.id, (SELECT min(id) FROM catalog_sku) + (c.id * 3 + n) %% 5000
            FROM carts_cart c CROSS JOIN generate_series(0, 2) AS n
            """,
            [],
        )
        # Reservations: settled ones of the past, a few active and due (the sweep's).
        cursor.execute(
            """
            INSERT INTO inventory_reservation (owner, quantity, status, expires_at, release_reason, created_at,
                                               updated_at, market_id, sku_id, warehouse_id)
            SELECT 'cart:plan-' || g, 1,
                   CASE WHEN g %% 1000 = 0 THEN 'active' WHEN g %% 3 = 0 THEN 'released' ELSE 'committed' END,
                   now() - (g %% 300) * interval '1 hour', '', now() - (g %% 300) * interval '1 hour' - interval '15 minutes',
                   now(), 'KR', l.sku_id, l.warehouse_id
            FROM generate_series(1, 20000) g
            JOIN inventory_stocklevel l ON l.id = (SELECT min(id) FROM inventory_stocklevel) + g %% 5000
            """,
            [],
        )
        # The active ones hold stock, as the services would have counted it.
        cursor.execute(
            """
            UPDATE inventory_stocklevel l SET reserved = r.quantity, on_hand = greatest(l.on_hand, r.quantity)
            FROM (SELECT sku_id, warehouse_id, sum(quantity) AS quantity FROM inventory_reservation
                  WHERE status = 'active' GROUP BY sku_id, warehouse_id) r
            WHERE l.sku_id = r.sku_id AND l.warehouse_id = r.warehouse_id
            """,
            [],
        )
        # The relay's work: a few events still pending.
        cursor.execute(
            "UPDATE core_outboxevent SET status = 'pending', delivered_at = NULL "
            "WHERE id IN (SELECT id FROM core_outboxevent ORDER BY sequence DESC LIMIT 50)"
        )
        for table in sorted(GROWING):
            cursor.execute(f"ANALYZE {table}")
        cursor.execute(
            "SELECT sku_id FROM inventory_stockmovement GROUP BY sku_id ORDER BY count(*) DESC LIMIT 1"
        )
        hot_sku_id = int(cursor.fetchone()[0])
    from apps.catalog.models import Category, Product, Sku

    return {
        "first_user": first_user,
        "hot_sku": Sku.objects.get(pk=hot_sku_id).code,
        "skus": list(Sku.objects.order_by("?").values_list("code", flat=True)[:5]),
        "product": Product.objects.order_by("pk").values_list("pk", flat=True)[1500],
        "leaf": Category.objects.filter(parent__isnull=False)
        .order_by("pk")
        .values_list("slug", flat=True)[3],
        "top": Category.objects.filter(parent__isnull=True).order_by("pk").values_list("slug", flat=True)[0],
    }


@pytest.fixture(scope="module")
def dataset(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("query plans are PostgreSQL's: run with DATABASE_URL=postgres://... (CI does)")
        with transaction.atomic():
            yield _build()
            transaction.set_rollback(True)


def _seq_scans(node: dict[str, Any]) -> Iterator[str]:
    if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in GROWING:
        yield node["Relation Name"]
    for child in node.get("Plans", []):
        yield from _seq_scans(child)


def _scan_types(node: dict[str, Any], table: str) -> Iterator[str]:
    if node.get("Relation Name") == table:
        yield node["Node Type"]
    for child in node.get("Plans", []):
        yield from _scan_types(child, table)


def _relations(node: dict[str, Any]) -> Iterator[str]:
    if "Relation Name" in node:
        yield node["Relation Name"]
    for child in node.get("Plans", []):
        yield from _relations(child)


def _plans(run: Callable[[], Any]) -> list[tuple[str, dict[str, Any]]]:
    """Run ``run`` and EXPLAIN every SELECT, UPDATE or DELETE it sent."""
    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            # "(SELECT ...) UNION ALL (SELECT ...)": a parent category's merged page
            if not sql.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE", "(SELECT")):
                continue
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            raw = cursor.fetchone()[0]
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            plans.append((sql, plan))
    return plans


def _assert_indexed(plans: list[tuple[str, dict[str, Any]]], expected: set[str]) -> None:
    seen = {name for _sql, plan in plans for name in _relations(plan)}
    assert expected <= seen, f"the path never read {expected - seen}: the check would prove nothing"
    offenders = [
        (sorted(set(_seq_scans(plan))), sql, json.dumps(plan, indent=1))
        for sql, plan in plans
        if any(_seq_scans(plan))
    ]
    assert not offenders, "\n\n".join(f"Seq Scan on {t}:\n{sql}\n{plan}" for t, sql, plan in offenders)


pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("sort", ["popular", "price", "-price", "newest"])
@pytest.mark.parametrize("level", ["leaf", "top"])
def test_product_list_by_category_uses_indexes(
    api_client: Any, dataset: dict[str, Any], sort: str, level: str
):
    url = f"/api/v1/products?category={dataset[level]}&sort={sort}"

    def run() -> None:
        first = api_client.get(url)
        assert first.status_code == 200, first.content
        cursor = first.json().get("next")
        assert cursor, "a category of the seeded catalog has a second page"
        assert api_client.get(cursor).status_code == 200

    _assert_indexed(_plans(run), {"catalog_productlisting"})


def _find(node: dict[str, Any], types: set[str]) -> Iterator[dict[str, Any]]:
    if node["Node Type"] in types:
        yield node
    for child in node.get("Plans", []):
        yield from _find(child, types)


@pytest.mark.parametrize("sort", ["popular", "price", "-price", "newest"])
def test_a_parent_categorys_page_is_each_subcategorys_short_index_range(
    api_client: Any, dataset: dict[str, Any], sort: str
):
    """A top category's products spread over its subcategories: its page is merged from one
    page per subcategory, each read in order from the (category, sort) index and cut at the
    page size, so it never sorts every product of the category (keyset ``parts``)."""

    def run() -> None:
        first = api_client.get(f"/api/v1/products?category={dataset['top']}&sort={sort}")
        assert first.status_code == 200 and first.json()["next"], first.content
        assert api_client.get(first.json()["next"]).status_code == 200

    plans = _plans(run)
    _assert_indexed(plans, {"catalog_productlisting"})
    merged = [plan for sql, plan in plans if "UNION ALL" in sql]
    assert len(merged) == 2, [sql[:120] for sql, _plan in plans]  # the first page and the next
    for plan in merged:
        appends = list(_find(plan, {"Append", "Merge Append"}))
        assert appends, plan
        for part in (child for append in appends for child in append["Plans"]):
            assert part["Node Type"] == "Limit", part
            # a part may sort only what the planner expects to be a handful of rows (the
            # parent's own few products); a subcategory's thousands come from the index
            for sort_node in _find(part, {"Sort", "Incremental Sort"}):
                assert sort_node["Plans"][0]["Plan Rows"] <= 200, sort_node


@pytest.mark.parametrize("q", ["운동화", "어반핏 러닝화", "urbanfit running"])
def test_search_uses_indexes(api_client: Any, dataset: dict[str, Any], q: str):
    def run() -> None:
        response = api_client.get("/api/v1/products", {"q": q})
        assert response.status_code == 200 and response.json()["results"], response.content

    _assert_indexed(_plans(run), {"catalog_product", "catalog_productlisting"})


def test_broad_search_finds_its_products_by_the_gin_index(api_client: Any, dataset: dict[str, Any]):
    """ "sneakers" matches about 1 % of the catalog. The products come from the GIN index;
    their listings may then be joined by hashing the market's listings (the planner's
    cheaper plan for a hundred matches or more): ranking by relevance reads every match
    anyway, so such a search costs in proportion to its matches whatever the plan."""

    def run() -> None:
        response = api_client.get("/api/v1/products", {"q": "sneakers"})
        assert response.status_code == 200 and response.json()["results"], response.content

    plans = _plans(run)
    product_scans = [node_type for _sql, plan in plans for node_type in _scan_types(plan, "catalog_product")]
    assert product_scans and "Seq Scan" not in product_scans, product_scans


def test_product_detail_uses_indexes(api_client: Any, dataset: dict[str, Any]):
    def run() -> None:
        assert api_client.get(f"/api/v1/products/{dataset['product']}").status_code == 200

    _assert_indexed(_plans(run), {"catalog_product", "catalog_sku"})


def test_availability_by_sku_codes_uses_indexes(api_client: Any, dataset: dict[str, Any]):
    query = "&".join(f"sku={code}" for code in dataset["skus"])

    def run() -> None:
        assert api_client.get(f"/api/v1/inventory/availability?{query}").status_code == 200

    _assert_indexed(_plans(run), {"inventory_stocklevel"})


def test_cart_lines_of_a_member_use_indexes(dataset: dict[str, Any]):
    from apps.carts import selectors

    user_id = dataset["first_user"] + 7

    def run() -> None:
        assert len(selectors.member_cart_lines(user_id=user_id)) == 3
        assert selectors.member_cart_get(user_id=user_id) is not None

    _assert_indexed(_plans(run), {"carts_cartline", "carts_cart"})


def test_order_list_of_a_member_uses_indexes(dataset: dict[str, Any]):
    from apps.accounts.models import User
    from apps.orders.selectors import order_list

    user = User.objects.get(pk=dataset["first_user"] + 11)

    def run() -> None:
        orders = list(order_list(user=user)[:20])
        assert len(orders) == ORDERS_PER_MEMBER and all(len(o.lines.all()) == 2 for o in orders)

    _assert_indexed(_plans(run), {"orders_order", "orders_orderline"})


def test_outbox_relay_claim_uses_indexes(dataset: dict[str, Any]):
    from apps.core.outbox import outbox_claim

    def run() -> None:
        assert outbox_claim(worker="plans", limit=100, lease_seconds=30)

    _assert_indexed(_plans(run), {"core_outboxevent"})


def test_stock_movements_of_a_sku_use_indexes(dataset: dict[str, Any]):
    from apps.inventory.selectors import stock_movement_list

    def run() -> None:
        assert len(list(stock_movement_list(sku_code=dataset["hot_sku"])[:50])) == 50

    _assert_indexed(_plans(run), {"inventory_stockmovement"})


def _node_types(node: dict[str, Any]) -> Iterator[str]:
    yield node["Node Type"]
    for child in node.get("Plans", []):
        yield from _node_types(child)


def test_the_ledgers_first_page_is_read_in_order_from_an_index(dataset: dict[str, Any]):
    """Newest first, unfiltered (the back office's stock movements list): the page comes
    from the (-created_at, -id) index in order, without sorting every movement."""
    from apps.inventory.selectors import stock_movement_list

    def run() -> None:
        assert len(list(stock_movement_list()[:50])) == 50

    plans = _plans(run)
    _assert_indexed(plans, {"inventory_stockmovement"})
    ledger = [plan for _sql, plan in plans if "inventory_stockmovement" in set(_relations(plan))]
    assert ledger and not any("Sort" in t for plan in ledger for t in _node_types(plan)), ledger


def test_reservation_expiry_sweep_uses_indexes(dataset: dict[str, Any]):
    from apps.inventory.services import reservations_expire_due

    def run() -> None:
        assert reservations_expire_due(limit=500) == 20

    _assert_indexed(_plans(run), {"inventory_reservation"})


def test_order_expiry_sweep_uses_indexes(dataset: dict[str, Any]):
    from apps.orders.services import orders_expire_due

    def run() -> None:
        assert orders_expire_due(limit=500) == MEMBERS * ORDERS_PER_MEMBER // 1000

    _assert_indexed(_plans(run), {"orders_order"})
