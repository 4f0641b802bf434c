"""``make soak``: a bounded mixed-traffic run on the production stack, then ``check_invariants``.

    .venv/bin/python -m bench.soak                       # 10 minutes, 32 connections
    SOAK_SECONDS=45 SOAK_CONNECTIONS=8 SOAK_PRODUCTS=300 .venv/bin/python -m bench.soak

What a run does (the machinery is ``bench/run.py``'s: database, Redis, process handling, CPU
accounting; the load generator is ``bench/loadgen.py``'s, extended here):

1. **Fresh database** ``SOAK_DATABASE_URL`` (default
   ``postgres://postgres@127.0.0.1:5432/joopang_bench_soak``; dropped and created, so its name
   must contain ``bench``), ``migrate``, ``seed_catalog --products SOAK_PRODUCTS`` (2,000).
   Redis ``SOAK_REDIS_URL`` (default database 14: cache and broker, stale keys deleted).
2. **Data for the traffic** (through the services, in this process): one KR member per
   connection (registered with the required consents, a bearer token, a wallet funded by an
   ops adjustment, a card approved by the payment sandbox, two SKUs of its own restocked by a
   receipt), an ``ops_admin`` (its token fulfils orders), one active flash-sale campaign of
   ``SOAK_COUPONS`` (200) coupons, one per member, and 40 claiming members per connection: it
   sells out during a full run, so later claims are sold-out answers.
3. **The stack**: the payment sandbox and the data-platform receiver (threads of this
   process, as in ``bench.run``: stand-ins for remote services), gunicorn
   (``bench/gunicorn.conf.py``, sync, 2 x cores + 1 workers), one Celery worker (prefork,
   2 processes, as ``docker/compose.yaml`` runs it) and Celery beat (the database scheduler:
   reservation and order expiry, the outbox relay sweep, settlements...). The relay delivers
   every event to the receiver, signed.
4. **Traffic**: ``SOAK_CONNECTIONS`` closed-loop connections for ``SOAK_WARMUP`` (5) +
   ``SOAK_SECONDS`` (600) s. Each iteration a connection picks a *flow* at random by the
   weights of ``SOAK_MIX`` and runs its requests in order (``{id}`` = the order the flow just
   created): browse (home, category and product pages, the product list and detail API), search
   (API and page), account (my orders, wallet ledger, coupons), cart (add, change, totals,
   remove), checkout (refill the cart, create, pay by wallet), cancel (checkout, then cancel
   the paid order: refund to the wallet), refund (checkout, an ops token fulfils the order
   through ``/internal/orders/{id}/transitions``, then the member returns it), top-up (the
   sandbox charges the card), claim (the flash-sale campaign, each time as another member).
5. **Afterwards**: gunicorn stops; the relay is given ``SOAK_DRAIN_SECONDS`` (120) to deliver
   the outbox; worker and beat stop; ``manage.py check_invariants --json`` runs against the
   soak database with the webhook configured and ``INVARIANTS_OUTBOX_HORIZON_SECONDS`` =
   ``SOAK_OUTBOX_HORIZON`` (60): every event older than a minute must be delivered.
6. **Report**: ``SOAK_RESULTS_DIR`` (``bench/results``) ``soak-latest.md`` and ``.json`` and a
   timestamped copy ``soak-<UTC>.md`` / ``.json``: throughput, per label (endpoint) req/s,
   P50/P95/P99, expected refusals and unexpected errors, req/s and P95 per time window (a soak
   is about drift), CPU and memory of each part, the machine's load, the data after the run and
   every invariant.

**Expected answers** (not errors): every 2xx, and ``409 coupon.sold_out`` /
``409 coupon.already_claimed`` on a claim (the sale sells out; a member claims again). Anything
else (any other 4xx, any 5xx, a transport error or timeout) is an **unexpected error**; an
expected refusal ends its iteration like an error does (the flow's later steps depend on it).

Exit status: 0 when every invariant holds, the unexpected error rate is at most
``SOAK_MAX_ERROR_RATE`` (0.005 = 0.5 %) over the run and in every label with at least
1 / ``SOAK_MAX_ERROR_RATE`` requests, and every flow of the mix ran at least once without an
unexpected error; 1 otherwise; 2 if a setup step failed; 130 on Ctrl-C.

Other knobs: ``SOAK_MIX`` (``browse=30,search=12,...``; 0 drops a flow), ``SOAK_WORKERS``
(gunicorn), ``SOAK_WINDOW`` (seconds per time window, default a tenth of the run),
``SOAK_TAG`` (a suffix of the timestamped file names). Logs of the servers: ``var/bench/soak-*.log``.

``python -m bench.soak --loadgen SPEC RESULT`` is the load generator (run by the harness).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.loadgen import UNIQUE_PLACEHOLDER, Run, build_request
from bench.run import (
    BASE_DIR,
    HOST,
    PYTHON,
    SETTINGS,
    BenchError,
    Config,
    CpuMeter,
    Services,
    clear_redis,
    cpu_model,
    free_port,
    git_commit,
    log,
    machine_ticks,
    manage,
    pids_cpu,
    process_tree_cpu,
    recreate_database,
    size_threads,
    wait_ready,
    wait_worker,
)
from bench.stats import percentile

#: Flow weights (share of iterations); ``SOAK_MIX`` overrides any of them.
DEFAULT_MIX: dict[str, float] = {
    "browse": 30,
    "search": 12,
    "account": 6,
    "cart": 10,
    "checkout": 16,
    "cancel": 6,
    "refund": 6,
    "top_up": 6,
    "claim": 8,
}
#: The rows of the table, in order: label -> the request(s) it stands for.
LABELS = {
    "web.home": "GET / (storefront home, HTML)",
    "web.category": "GET /c/{slug}/ (category page, HTML)",
    "web.product": "GET /p/{id}/{slug}/ (product page, HTML)",
    "api.products.list": "GET /api/v1/products?category=&sort=",
    "api.products.detail": "GET /api/v1/products/{id}",
    "api.search": "GET /api/v1/products?q=",
    "web.search": "GET /search?q= (HTML)",
    "account.orders": "GET /api/v1/orders?limit=10",
    "account.wallet": "GET /api/v1/wallet/transactions?limit=10",
    "account.coupons": "GET /api/v1/coupons",
    "cart.add": "POST /api/v1/carts/current/items {sku, quantity: 1}",
    "cart.update": "PATCH /api/v1/carts/current/items/{sku} {quantity: 2}",
    "cart.totals": "GET /api/v1/carts/current/totals",
    "cart.remove": "DELETE /api/v1/carts/current/items/{sku}",
    "checkout.refill": "POST /api/v1/carts/current/items (the two lines a checkout buys)",
    "checkout.create": "POST /api/v1/orders {from_cart, shipping_address} (Idempotency-Key)",
    "checkout.pay": "POST /api/v1/orders/{id}/payments {method: wallet} (Idempotency-Key)",
    "order.cancel": "POST /api/v1/orders/{id}/cancel (paid: refund to the wallet, restock)",
    "order.fulfil": "POST /api/v1/internal/orders/{id}/transitions {to_status: fulfilled} (ops token)",
    "order.refund": "POST /api/v1/orders/{id}/refunds {reason} (Idempotency-Key)",
    "wallet.top_up": "POST /api/v1/wallet/top-ups (sandbox card charge, Idempotency-Key)",
    "coupon.claim": "POST /api/v1/coupons/campaigns/{id}/claim (flash sale, another member each time)",
}
#: Non-2xx answers that are answers, not errors: ``status:code`` per label.
EXPECTED = {"coupon.claim": ("409:coupon.sold_out", "409:coupon.already_claimed")}
#: Claiming members per connection (each claim attempt is one of them, at random).
CLAIMERS_PER_CLIENT = 40
#: Variants per connection of the browse and search flows (other products, words, sorts).
VARIANTS = 8
SECRET = "soak-webhook-secret"
#: A flow the mix should have run this many times must have run once without an error.
MIN_EXPECTED = 20
SORTS = ("price", "-price", "popular", "newest")


@dataclass
class SoakConfig:
    database_url: str
    redis_url: str
    products: int
    connections: int
    seconds: float
    warmup_s: float
    coupons: int
    max_error_rate: float
    mix: dict[str, float]
    window_s: float
    drain_s: float
    outbox_horizon_s: int
    results_dir: Path
    tag: str
    workers: int = 0
    cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))

    @classmethod
    def from_env(cls) -> SoakConfig:
        env = os.environ.get
        seconds = float(env("SOAK_SECONDS", "600"))
        mix: dict[str, float] = dict(DEFAULT_MIX)
        for part in filter(None, (p.strip() for p in env("SOAK_MIX", "").split(","))):
            name, _, weight = part.partition("=")
            if name.strip() not in DEFAULT_MIX:
                raise BenchError(f"SOAK_MIX: unknown flow {name!r}; known: {', '.join(DEFAULT_MIX)}")
            mix[name.strip()] = float(weight)
        config = cls(
            database_url=env("SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/joopang_bench_soak"),
            redis_url=env("SOAK_REDIS_URL", "redis://127.0.0.1:6379/14"),
            products=int(env("SOAK_PRODUCTS", "2000")),
            connections=int(env("SOAK_CONNECTIONS", "32")),
            seconds=seconds,
            warmup_s=float(env("SOAK_WARMUP", "5")),
            coupons=int(env("SOAK_COUPONS", "200")),
            max_error_rate=float(env("SOAK_MAX_ERROR_RATE", "0.005")),
            mix={k: v for k, v in mix.items() if v > 0},
            window_s=float(env("SOAK_WINDOW") or max(5.0, round(seconds / 10))),
            drain_s=float(env("SOAK_DRAIN_SECONDS", "120")),
            outbox_horizon_s=int(env("SOAK_OUTBOX_HORIZON", "60")),
            results_dir=Path(env("SOAK_RESULTS_DIR") or BASE_DIR / "bench" / "results"),
            tag=env("SOAK_TAG", ""),
        )
        config.workers = int(env("SOAK_WORKERS") or 2 * config.cores + 1)
        if not config.mix:
            raise BenchError("SOAK_MIX leaves no flow to run")
        return config

    def bench_config(self) -> Config:
        """``bench.run``'s config for the functions reused from it."""
        return Config(
            database_url=self.database_url,
            redis_url=self.redis_url,
            products=self.products,
            concurrency=self.connections,
            duration_s=self.seconds,
            warmup_s=self.warmup_s,
            only=[],
            strict=False,
            workers=self.workers,
            threads=1,
        )


# --- The load generator: weighted flows, per-step headers and expected refusals -----------------


class SoakRun(Run):
    """``bench.loadgen.Run`` with mixed traffic. Spec ``"soak": {"clients": [{"flows": [{"kind",
    "weight", "steps": [{"label", "method", "path", "body", "headers", "unique", "save",
    "expect"}]}]}], "seed", "window_s"}``: client *i* runs ``clients[i % n]``; each iteration
    it draws one of its flows by weight (its own seeded generator) and sends the steps in order.
    A step's ``headers`` are added to the run's (another member's token, the ops token, an HTML
    Accept); ``expect`` lists ``"status:code"`` answers that are not errors (they still end the
    iteration). Per label it keeps latencies and statuses (``by_label``, as the base class), the
    non-2xx answers by ``status:code`` and error samples; per flow kind the iterations
    completed, refused (an expected answer), failed and cut by the window's end; per time
    window the requests, latencies and unexpected errors."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__({**spec, "paths": [], "flows": None, "clients": None})
        soak = spec["soak"]
        base = {"Accept": "application/json", **spec.get("headers", {})}
        self.seed = int(soak.get("seed", 1))
        self.window_s = float(soak.get("window_s", 60))
        self.soak_clients: list[list[tuple[str, float, list[dict[str, Any]]]]] = []
        for client in soak["clients"]:
            flows = []
            for flow in client["flows"]:
                steps = []
                for step in flow["steps"]:
                    headers = {**base, **step.get("headers", {})}
                    if step.get("unique") and self.unique_header:
                        headers[self.unique_header] = UNIQUE_PLACEHOLDER.decode("latin-1")
                    raw = build_request(
                        self.host, self.port, step["path"], headers, step["method"], step.get("body")
                    )
                    steps.append({**step, "raw": raw, "expect": frozenset(step.get("expect", ()))})
                flows.append((flow["kind"], float(flow["weight"]), steps))
            self.soak_clients.append(flows)
        self.answers: dict[str, Counter[str]] = defaultdict(Counter)
        self.expected: Counter[str] = Counter()
        self.unexpected: Counter[str] = Counter()
        self.label_samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.iterations: dict[str, Counter[str]] = defaultdict(Counter)
        self.windows: dict[int, dict[str, Any]] = {}

    def _note(self, label: str, started: float, finished: float, status: int) -> None:
        """Record one answer inside the window: its latency, by label and by time window."""
        latency = round((finished - started) * 1000, 3)
        self.latencies_ms.append(latency)
        self.statuses[str(status)] += 1
        own = self.by_label.setdefault(label, {"latencies_ms": [], "statuses": Counter()})
        own["latencies_ms"].append(latency)
        own["statuses"][str(status)] += 1
        window = self.windows.setdefault(
            int((finished - self.record_start) // self.window_s), {"latencies_ms": [], "errors": 0}
        )
        window["latencies_ms"].append(latency)

    async def _soak_worker(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(self.seed * 100_003 + index)
        flows = self.soak_clients[index % len(self.soak_clients)]
        weights = [weight for _kind, weight, _steps in flows]
        conn: Any = None
        uses, sent = 0, 0
        while loop.time() < self.record_end:
            kind, _weight, steps = rng.choices(flows, weights)[0]
            counted = loop.time() >= self.record_start
            saved: dict[str, str] = {}
            outcome = "completed"
            for step in steps:
                started = loop.time()
                if started >= self.record_end:
                    outcome = "cut"
                    break
                raw, path, sent = self._render(step, saved, index, sent)
                conn, uses, status, body, detail = await self._send(conn, uses, raw)
                finished = loop.time()
                if finished > self.record_end:
                    outcome = "cut"
                    break
                answer = "ok" if 200 <= status < 300 else self._answer(step, status, body)
                if finished < self.record_start:
                    self.warmup_requests += 1
                else:
                    self._note(step["label"], started, finished, status)
                    self._count(step["label"], path, finished, status, body, detail, answer)
                if answer == "ok" and step.get("save"):
                    try:
                        saved[step["save"]] = str(json.loads(body)[step["save"]])
                    except (ValueError, KeyError, TypeError):
                        answer = "error"
                if answer != "ok":
                    outcome = "refused" if answer == "expected" else "failed"
                    break
            if counted:
                self.iterations[kind][outcome] += 1
        if conn is not None:
            conn[1].close()

    @staticmethod
    def _code(status: int, body: bytes) -> str:
        if status == 0:
            return "0:transport"
        code = ""
        if body[:1] == b"{":
            try:
                code = str(json.loads(body).get("code", ""))
            except (ValueError, AttributeError):
                code = "?"
        return f"{status}:{code}"

    def _answer(self, step: dict[str, Any], status: int, body: bytes) -> str:
        return "expected" if self._code(status, body) in step["expect"] else "error"

    def _count(
        self, label: str, path: str, finished: float, status: int, body: bytes, detail: str, answer: str
    ) -> None:
        if answer == "ok":
            return
        key = self._code(status, body)
        self.answers[label][key] += 1
        if answer == "expected":
            self.expected[label] += 1
            return
        self.unexpected[label] += 1
        self.windows[int((finished - self.record_start) // self.window_s)]["errors"] += 1
        if status == 0:
            self.transport_errors[detail.split(":")[0]] += 1
        samples = self.label_samples[label]
        if len(samples) < 3:
            text = detail if status == 0 else body[:300].decode("utf-8", "replace")
            samples.append({"path": path, "status": status, "detail": text[:300]})

    async def _worker(self, index: int) -> None:
        await self._soak_worker(index)

    async def run(self) -> dict[str, Any]:
        result = await super().run()
        result["soak"] = {
            "answers": {label: dict(c) for label, c in self.answers.items()},
            "expected": dict(self.expected),
            "unexpected": dict(self.unexpected),
            "samples": dict(self.label_samples),
            "iterations": {kind: dict(c) for kind, c in self.iterations.items()},
            "window_s": self.window_s,
            "windows": [
                {
                    "index": i,
                    "requests": len(w["latencies_ms"]),
                    "errors": w["errors"],
                    "p50_ms": percentile(sorted(w["latencies_ms"]), 50),
                    "p95_ms": percentile(sorted(w["latencies_ms"]), 95),
                    "p99_ms": percentile(sorted(w["latencies_ms"]), 99),
                }
                for i, w in sorted(self.windows.items())
            ],
        }
        return result


def loadgen_main(spec_path: str, result_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    started = time.time()
    result = asyncio.run(SoakRun(spec).run())
    result["started_at"] = started
    Path(result_path).write_text(json.dumps(result))
    return 0


# --- The traffic: data and flows ----------------------------------------------------------------


def step(
    label: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    unique: bool = False,
    save: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label, "method": method, "path": path}
    if body is not None:
        out["body"] = json.dumps(body, ensure_ascii=False)
    if headers:
        out["headers"] = headers
    if unique:
        out["unique"] = True
    if save:
        out["save"] = save
    if label in EXPECTED:
        out["expect"] = list(EXPECTED[label])
    return out


HTML = {"Accept": "text/html,application/xhtml+xml"}
JSON_BODY = {"Content-Type": "application/json"}


def browse_steps(product: tuple[int, str], category: str, sort: str) -> list[dict[str, Any]]:
    pk, slug = product
    return [
        step("web.home", "GET", "/", headers=HTML),
        step("web.category", "GET", f"/c/{category}/", headers=HTML),
        step("web.product", "GET", f"/p/{pk}/{slug}/", headers=HTML),
        step(
            "api.products.list", "GET", f"/api/v1/products?{urlencode({'category': category, 'sort': sort})}"
        ),
        step("api.products.detail", "GET", f"/api/v1/products/{pk}"),
    ]


def search_steps(term: str) -> list[dict[str, Any]]:
    return [
        step("api.search", "GET", f"/api/v1/products?{urlencode({'q': term})}"),
        step("web.search", "GET", f"/search?{urlencode({'q': term})}", headers=HTML),
    ]


def member_flows(
    *, member: dict[str, str], ops: dict[str, str], skus: list[str], method_id: str, amounts: list[int]
) -> dict[str, list[list[dict[str, Any]]]]:
    """A member's own flows (its token, cart, wallet, two SKUs), by kind."""
    from bench.scenarios import CART_ITEMS_PATH, CHECKOUT_ADDRESS, ORDER_PAYMENTS_PATH, ORDERS_PATH

    auth = {**member, **JSON_BODY}
    a, b = skus
    refill = [
        step("checkout.refill", "POST", CART_ITEMS_PATH, {"sku": code, "quantity": 1}, headers=auth)
        for code in skus
    ]
    create = step(
        "checkout.create",
        "POST",
        ORDERS_PATH,
        {"from_cart": True, "shipping_address": CHECKOUT_ADDRESS},
        headers=auth,
        unique=True,
        save="id",
    )
    pay = step("checkout.pay", "POST", ORDER_PAYMENTS_PATH, {"method": "wallet"}, headers=auth, unique=True)
    checkout = [*refill, create, pay]
    return {
        "account": [
            [
                step("account.orders", "GET", f"{ORDERS_PATH}?limit=10", headers=member),
                step("account.wallet", "GET", "/api/v1/wallet/transactions?limit=10", headers=member),
                step("account.coupons", "GET", "/api/v1/coupons", headers=member),
            ]
        ],
        "cart": [
            [
                step("cart.add", "POST", CART_ITEMS_PATH, {"sku": a, "quantity": 1}, headers=auth),
                step("cart.add", "POST", CART_ITEMS_PATH, {"sku": b, "quantity": 1}, headers=auth),
                step("cart.update", "PATCH", f"{CART_ITEMS_PATH}/{a}", {"quantity": 2}, headers=auth),
                step("cart.totals", "GET", "/api/v1/carts/current/totals", headers=member),
                step("cart.remove", "DELETE", f"{CART_ITEMS_PATH}/{a}", headers=member),
                step("cart.remove", "DELETE", f"{CART_ITEMS_PATH}/{b}", headers=member),
            ]
        ],
        "checkout": [checkout],
        "cancel": [
            [
                *checkout,
                step("order.cancel", "POST", "/api/v1/orders/{id}/cancel", {"reason": "soak: changed my mind"}, headers=auth),
            ]
        ],
        "refund": [
            [
                *checkout,
                step(
                    "order.fulfil",
                    "POST",
                    "/api/v1/internal/orders/{id}/transitions",
                    {"to_status": "fulfilled", "reason": "soak: shipped"},
                    headers={**ops, **JSON_BODY},
                ),
                step("order.refund", "POST", "/api/v1/orders/{id}/refunds", {"reason": "soak: returned"}, headers=auth, unique=True),
            ]
        ],
        "top_up": [
            [step("wallet.top_up", "POST", "/api/v1/wallet/top-ups", {"amount": amount, "payment_method_id": method_id}, headers=auth, unique=True)]
            for amount in amounts
        ],
    }  # fmt: skip


def flash_campaign(quantity: int) -> Any:
    """An active KR campaign of ``quantity`` coupons (1,000 won off), one per member."""
    from bench.scenarios import flash_campaign as bench_flash_campaign

    return bench_flash_campaign(
        name_ko="소크 선착순 쿠폰",
        name_en="Soak flash sale",
        quantity=quantity,
        email="soak-marketing@bench.test",
    )


def build_traffic(config: SoakConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The clients' weighted flows and facts about the data (in this process, through the
    services; the payment sandbox must be up: it approves the members' cards)."""
    import uuid

    from apps.accounts.services import staff_create_or_update
    from apps.accounts.tokens import access_token_for
    from apps.catalog.models import Category, Product
    from apps.inventory.models import StockLevel
    from apps.inventory.services import stock_adjust
    from apps.markets.models import Market
    from apps.markets.services import markets_cache_clear
    from apps.payments.services import payment_method_add, wallet_adjust, wallet_get_or_create
    from bench.scenarios import (
        CHECKOUT_SKU_UNITS,
        CHECKOUT_WALLET,
        SEARCH_TERMS,
        TOP_UP_AMOUNTS,
        TOP_UP_DAILY_LIMIT,
        TOP_UP_TOKEN_SECONDS,
        Context,
        _cart_skus,
        _flash_sale_members,
        _member,
    )

    ctx = Context(clients=config.connections)
    rng = random.Random(20261130)
    clients = config.connections
    codes = _cart_skus(ctx, 2 * clients)
    if len(codes) < 2:
        raise BenchError("not enough KR SKUs with stock seeded (SOAK_PRODUCTS too small?)")
    for code in codes:
        level = (
            StockLevel.objects.filter(sku__code=code, warehouse__market_id="KR", warehouse__is_active=True)
            .select_related("warehouse")
            .order_by("warehouse__priority", "warehouse_id")
            .first()
        )
        if level is not None and level.available < CHECKOUT_SKU_UNITS:
            stock_adjust(
                sku_code=code,
                warehouse_code=level.warehouse.code,
                delta=CHECKOUT_SKU_UNITS,
                kind="receipt",
                reason="Soak: stock for the checkouts",
                actor=None,
                reference=f"soak:{code}",
            )
    Market.objects.filter(code="KR").update(wallet_top_up_daily_limit=TOP_UP_DAILY_LIMIT)
    markets_cache_clear()
    kr = Market.objects.get(code="KR")
    ops, _ = staff_create_or_update(
        email="soak-ops@bench.test", role="ops_admin", password=f"Soak-{uuid.uuid4()}", market=None
    )
    ops_headers = {"Authorization": f"Bearer {access_token_for(ops, lifetime_seconds=TOP_UP_TOKEN_SECONDS)}"}
    products = list(
        Product.objects.filter(is_active=True, category__isnull=False)
        .order_by("pk")
        .values_list("pk", "slug", "category__slug")[:5000]
    )
    categories = list(Category.objects.filter(is_active=True).values_list("slug", flat=True))
    if not products or not categories:
        raise BenchError("no active products or categories seeded")
    campaign = flash_campaign(config.coupons) if "claim" in config.mix else None
    claimers = _flash_sale_members(CLAIMERS_PER_CLIENT * clients) if campaign is not None else []
    claim_path = f"/api/v1/coupons/campaigns/{campaign.pk}/claim" if campaign is not None else ""
    out = []
    for i in range(clients):
        user = _member(f"soak-{i}@bench.test", f"Soak member {i}")
        wallet = wallet_get_or_create(user=user, market=kr)
        if wallet.balance < CHECKOUT_WALLET // 2:
            wallet_adjust(
                user=user,
                market=kr,
                amount=CHECKOUT_WALLET,
                reason="Soak funding",
                actor=ops,
                reference=f"soak:{user.pk}:{uuid.uuid4()}",
            )
        method = payment_method_add(user=user, market=kr, kind="card", label="Soak Visa", last4="4242")
        member = {"Authorization": f"Bearer {access_token_for(user, lifetime_seconds=TOP_UP_TOKEN_SECONDS)}"}
        pair = [codes[(2 * i) % len(codes)], codes[(2 * i + 1) % len(codes)]]
        variants: dict[str, list[list[dict[str, Any]]]] = member_flows(
            member=member,
            ops=ops_headers,
            skus=pair,
            method_id=str(method.public_id),
            amounts=list(TOP_UP_AMOUNTS),
        )
        variants["browse"] = []
        for _ in range(VARIANTS):
            pk, slug, category = rng.choice(products)
            variants["browse"].append(
                browse_steps((pk, slug), rng.choice([category, *categories]), rng.choice(SORTS))
            )
        variants["search"] = [search_steps(rng.choice(SEARCH_TERMS)) for _ in range(VARIANTS)]
        mine = claimers[i * CLAIMERS_PER_CLIENT : (i + 1) * CLAIMERS_PER_CLIENT]
        variants["claim"] = [
            [step("coupon.claim", "POST", claim_path, headers={"Authorization": f"Bearer {token}"})]
            for _pk, token in mine
        ]
        flows = []
        for kind, weight in config.mix.items():
            for steps in variants[kind]:
                flows.append({"kind": kind, "weight": weight / len(variants[kind]), "steps": steps})
        out.append({"flows": flows})
    facts = {
        "members": clients,
        "skus_of_members": len(codes),
        "units_received_per_sku": CHECKOUT_SKU_UNITS,
        "claimers": len(claimers),
        "campaign_id": campaign.pk if campaign is not None else None,
        "coupons": config.coupons if campaign is not None else 0,
    }
    return out, facts  # fmt: skip


def preflight(port: int, clients: list[dict[str, Any]], headers: dict[str, str]) -> list[str]:
    """Each flow kind of the first client once, as the load generator sends it; returns the
    answers that are neither 2xx nor expected."""
    import uuid

    import httpx

    problems: list[str] = []
    seen: set[str] = set()
    for flow in clients[0]["flows"]:
        if flow["kind"] in seen:
            continue
        seen.add(flow["kind"])
        saved: dict[str, str] = {}
        for s in flow["steps"]:
            path = s["path"]
            for name, value in saved.items():
                path = path.replace("{" + name + "}", value)
            own = {"Accept": "application/json", **headers, **s.get("headers", {})}
            if s.get("unique"):
                own["Idempotency-Key"] = f"soak-preflight-{uuid.uuid4()}"
            try:
                response = httpx.request(
                    s["method"],
                    f"http://{HOST}:{port}{path}",
                    headers=own,
                    content=s["body"].encode() if "body" in s else None,
                    timeout=30,
                )
            except httpx.HTTPError as exc:
                problems.append(f"{flow['kind']}: {s['method']} {path}: {type(exc).__name__}: {exc}")
                break
            if not 200 <= response.status_code < 300:
                code = SoakRun._code(response.status_code, response.content)
                if code not in s.get("expect", ()):
                    problems.append(
                        f"{flow['kind']}: {s['method']} {path} answered {response.status_code}: {response.text[:200]}"
                    )
                break
            if s.get("save"):
                saved[s["save"]] = str(response.json()[s["save"]])
    return problems  # fmt: skip


# --- Measuring the machine --------------------------------------------------------------------


class LoadSampler:
    """Every ``every`` seconds, on a thread: the 1-minute load average, the machine's busy and
    total CPU seconds and ``ours()`` (the CPU seconds of the soak's own processes), so that each
    time window can say how much of the machine other processes took."""

    def __init__(self, every: float = 10.0, ours: Any = None) -> None:
        self.every = every
        self.ours = ours or (lambda: 0.0)
        self.samples: list[tuple[float, float, float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadavg", daemon=True)

    def sample(self) -> None:
        busy, total = machine_ticks()
        load = float(Path("/proc/loadavg").read_text().split()[0])
        self.samples.append((time.monotonic(), load, busy, total, float(self.ours())))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def start(self) -> LoadSampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop sampling (one last sample now: the end of the last interval)."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.sample()
        values = [s[1] for s in self.samples] or [math.nan]
        return {
            "min": min(values),
            "mean": sum(values) / len(values),
            "max": max(values),
            "samples": len(self.samples),
        }

    def windows(self, window_s: float) -> dict[int, dict[str, float]]:
        """Per window (by the start of each interval between two samples, counted from the
        first sample): the mean load average, the machine's busy share and the share other
        processes took (busy minus ours, of the machine)."""
        if not self.samples:
            return {}
        t0 = self.samples[0][0]
        acc: dict[int, dict[str, float]] = {}
        for (t1, load, busy1, total1, ours1), (_t2, _l, busy2, total2, ours2) in zip(
            self.samples, self.samples[1:], strict=False
        ):
            own = acc.setdefault(
                int((t1 - t0) // window_s), {"load": 0.0, "n": 0, "busy": 0.0, "total": 0.0, "ours": 0.0}
            )
            own["load"] += load
            own["n"] += 1
            own["busy"] += busy2 - busy1
            own["total"] += total2 - total1
            own["ours"] += ours2 - ours1
        return {
            index: {
                "loadavg": w["load"] / w["n"],
                "machine_busy": w["busy"] / w["total"] if w["total"] else math.nan,
                "others": max(0.0, w["busy"] - w["ours"]) / w["total"] if w["total"] else math.nan,
            }
            for index, w in acc.items()
        }  # fmt: skip


def tree_rss_mb(root: int) -> float:
    """Resident memory (MB) of ``root`` and its children (one level: gunicorn's or Celery's
    worker processes)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(entry) == root or fields.get("PPid", "").strip() == str(root):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return round(total / 1024, 1)


def run_soak_load(
    config: SoakConfig, port: int, clients: list[dict[str, Any]], meter: CpuMeter, services: Services
) -> dict[str, Any]:
    """The load generator in its own process (``--loadgen``), with CPU snapshots of gunicorn,
    our PostgreSQL backends, the Celery worker and beat, this process and the machine between
    its START and END lines, and the servers' memory at both."""
    from bench.scenarios import API_HEADERS

    def others() -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "celery": sum(process_tree_cpu(services.procs[n].pid) for n in ("soak-celery", "soak-beat")),
            "harness": usage.ru_utime + usage.ru_stime,
        }

    backends: dict[int, float] = {}

    def ours() -> float:
        """CPU seconds of the soak's processes (an exited PostgreSQL backend keeps its last
        reading): gunicorn, Celery, the load generator, this process, our backends."""
        with contextlib.suppress(Exception):  # a sample without the backends is still a sample
            backends.update(pids_cpu(meter._backend_pids()))
        trees = ("soak-gunicorn", "soak-celery", "soak-beat")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (
            sum(process_tree_cpu(services.procs[n].pid) for n in trees)
            + process_tree_cpu(proc.pid)
            + usage.ru_utime
            + usage.ru_stime
            + sum(backends.values())
        )

    def memory() -> dict[str, float]:
        return {name: tree_rss_mb(services.procs[f"soak-{name}"].pid) for name in ("gunicorn", "celery")}

    with tempfile.TemporaryDirectory(prefix="joopang-soak-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec = {
            "host": HOST,
            "port": port,
            "paths": [],
            "headers": API_HEADERS,
            "concurrency": config.connections,
            "warmup_s": config.warmup_s,
            "duration_s": config.seconds,
            "unique_header": "Idempotency-Key",
            "soak": {"clients": clients, "seed": 1, "window_s": config.window_s},
        }
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.Popen(
            [PYTHON, "-m", "bench.soak", "--loadgen", str(spec_path), str(result_path)],
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        sampler: LoadSampler | None = None
        loadavg: dict[str, float] = {}
        start = end = None
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == "START":
                    start = (meter.snapshot(), others(), memory())
                    sampler = LoadSampler(every=min(10.0, config.window_s / 3), ours=ours).start()
                elif line.strip() == "END":
                    end = (meter.snapshot(), others(), memory())
                    if sampler is not None:  # while the load generator still runs
                        loadavg = sampler.stop()
            proc.wait(timeout=config.warmup_s + config.seconds + 120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise BenchError(f"load generator failed with exit code {proc.returncode}")
        result: dict[str, Any] = json.loads(result_path.read_text())
    result["loadavg"] = loadavg
    result["machine_windows"] = sampler.windows(config.window_s) if sampler else {}
    if start and end:
        cpu = CpuMeter.delta(start[0], end[0])
        cpu.update({name: end[1][name] - start[1][name] for name in ("celery", "harness")})
        cpu["loadgen"] = result["cpu_s"]
        result["cpu"] = cpu
        result["memory_mb"] = {"start": start[2], "end": end[2]}
    return result


# --- After the load --------------------------------------------------------------------------


def outbox_counts() -> dict[str, int]:
    from django.db import connections
    from django.db.models import Count

    from apps.core.models import OutboxEvent

    counts = dict(
        OutboxEvent.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    connections.close_all()
    return {str(k): int(v) for k, v in counts.items()}


def drain_outbox(timeout: float) -> tuple[dict[str, int], float]:
    """Wait until no event is pending or being delivered (the worker and beat still run)."""
    started = time.monotonic()
    while True:
        counts = outbox_counts()
        waiting = counts.get("pending", 0) + counts.get("delivering", 0)
        if not waiting or time.monotonic() - started > timeout:
            return counts, round(time.monotonic() - started, 1)
        time.sleep(2)


def data_facts(campaign_id: int | None) -> dict[str, Any]:
    from django.db import connections
    from django.db.models import Count

    from apps.coupons.models import Campaign, Coupon
    from apps.orders.models import Order
    from apps.payments.models import WalletEntry

    orders = dict(Order.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    ledger = dict(WalletEntry.objects.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    facts: dict[str, Any] = {
        "orders": {str(k): int(v) for k, v in sorted(orders.items())},
        "wallet_entries": {str(k): int(v) for k, v in sorted(ledger.items())},
    }
    if campaign_id is not None:
        campaign = Campaign.objects.get(pk=campaign_id)
        facts["campaign"] = {
            "total_quantity": campaign.total_quantity,
            "issued_count": campaign.issued_count,
            "coupon_rows": Coupon.objects.filter(campaign_id=campaign_id).count(),
        }
    connections.close_all()
    return facts


def check_invariants(config: SoakConfig, env: dict[str, str]) -> dict[str, Any]:
    """``manage.py check_invariants --json`` on the soak database, the webhook configured (so the
    outbox invariant applies) with the soak's horizon."""
    started = time.monotonic()
    result = subprocess.run(
        [PYTHON, "manage.py", "check_invariants", "--json"],
        cwd=BASE_DIR,
        env={**env, "INVARIANTS_OUTBOX_HORIZON_SECONDS": str(config.outbox_horizon_s)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    out: dict[str, Any] = {"exit_code": result.returncode, "seconds": round(time.monotonic() - started, 1)}
    try:
        out.update(json.loads(result.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        out.update(
            clean=False, checked=0, breaches=[], passed=[], output=(result.stdout + result.stderr)[-2000:]
        )
    return out


# --- The report --------------------------------------------------------------------------------


def label_rows(result: dict[str, Any], duration_s: float) -> list[dict[str, Any]]:
    soak = result["soak"]
    rows = []
    for label in [*LABELS, *sorted(set(result["by_label"]) - set(LABELS))]:
        own = result["by_label"].get(label)
        if not own:
            continue
        values = sorted(own["latencies_ms"])
        requests = len(values)
        errors = soak["unexpected"].get(label, 0)
        rows.append(
            {
                "label": label,
                "request": LABELS.get(label, ""),
                "requests": requests,
                "rps": requests / duration_s if duration_s else 0.0,
                "p50_ms": percentile(values, 50),
                "p95_ms": percentile(values, 95),
                "p99_ms": percentile(values, 99),
                "max_ms": values[-1] if values else math.nan,
                "statuses": dict(sorted(own["statuses"].items())),
                "answers": soak["answers"].get(label, {}),
                "expected": soak["expected"].get(label, 0),
                "errors": errors,
                "error_rate": errors / requests if requests else 0.0,
                "samples": soak["samples"].get(label, []),
            }
        )
    return rows


def verdict(config: SoakConfig, report: dict[str, Any]) -> list[str]:
    """Why the soak failed (empty: it passed)."""
    failures = []
    inv = report["invariants"]
    if inv["exit_code"] != 0 or not inv.get("clean"):
        names = ", ".join(b["name"] for b in inv.get("breaches", [])) or "the check did not run"
        failures.append(f"check_invariants exited {inv['exit_code']}: {names}")
    total = report["totals"]
    if total["error_rate"] > config.max_error_rate:
        failures.append(
            f"unexpected errors {total['errors']} of {total['requests']} ({total['error_rate']:.2%}) "
            f"> {config.max_error_rate:.2%}"
        )
    floor = math.ceil(1 / config.max_error_rate) if config.max_error_rate > 0 else 1
    for row in report["labels"]:
        if row["requests"] >= floor and row["error_rate"] > config.max_error_rate:
            failures.append(
                f"{row['label']}: unexpected errors {row['errors']} of {row['requests']} ({row['error_rate']:.2%})"
            )
    # Each flow once before the load (the preflight), and in the load: a flow with no good
    # iteration fails when the mix should have run it at least MIN_EXPECTED times (fewer, in
    # a short run, can be chance: the draw is random).
    failures += [f"preflight: {problem}" for problem in report["preflight"]]
    iterations = report["iterations"]
    started = sum(sum(c.values()) for c in iterations.values())
    weights = sum(config.mix.values())
    for kind, weight in config.mix.items():
        done = iterations.get(kind, {})
        good = done.get("completed", 0) + done.get("refused", 0)
        if not good and started * weight / weights >= MIN_EXPECTED:
            failures.append(
                f"flow {kind}: no iteration ran without an unexpected error ({done or 'none started'})"
            )
    if not total["requests"]:
        failures.append("no request was answered")
    return failures  # fmt: skip


def _ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _num(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


def render_markdown(report: dict[str, Any]) -> str:
    meta, total, cpu = report["meta"], report["totals"], report.get("cpu") or {}
    inv = report["invariants"]
    status = "PASSED" if report["passed"] else "FAILED"
    load = meta.get("loadavg_during", {})
    lines = [
        f"# Joopang soak {meta['started_at']}: {status}",
        "",
        f"- when: {meta['started_at']} to {meta['finished_at']}, commit `{meta['git_commit']}`",
        f"- machine: {meta['cpu_count']} cores ({meta['cpu_model']}); load average (1 min) at start "
        f"{meta['loadavg_start']}, during the load min {load.get('min', math.nan):.2f} / mean "
        f"{load.get('mean', math.nan):.2f} / max {load.get('max', math.nan):.2f} "
        f"({load.get('samples', 0)} samples), at the end {meta['loadavg_end']}",
        f"- stack: {meta['server']}; {meta['database']}",
        f"- dataset: {meta['dataset']['products']:,} products, {meta['dataset']['skus']:,} SKUs, "
        f"{meta['dataset']['categories']} categories (seed_catalog); {meta['traffic']['members']} members "
        f"(one per connection, {meta['traffic']['skus_of_members']} SKUs of their own), "
        f"{meta['traffic']['claimers']:,} claiming members, a campaign of {meta['traffic']['coupons']:,} coupons",
        f"- load: {meta['connections']} connections, closed loop, {meta['warmup_s']:g} s warm-up + "
        f"{meta['duration_s']:g} s measured; mix (iterations): "
        + ", ".join(f"{k} {v:g}" for k, v in meta["mix"].items()),
        "",
        "## Verdict",
        "",
        f"- invariants: **{len(inv.get('passed', []))} of {inv.get('checked', 0)} hold** "
        f"(`manage.py check_invariants` exit {inv['exit_code']}, outbox horizon {meta['outbox_horizon_s']} s)",
        f"- unexpected errors: **{total['errors']:,} of {total['requests']:,} ({total['error_rate']:.3%})**, "
        f"threshold {meta['max_error_rate']:.2%} (over the run, and per label with at least "
        f"{meta['label_floor']:,} requests); expected refusals {total['expected']:,}",
        f"- throughput: **{total['rps']:.1f} req/s** ({total['requests']:,} requests in {meta['duration_s']:g} s), "
        f"P50 {_ms(total['p50_ms'])} ms, P95 {_ms(total['p95_ms'])} ms, P99 {_ms(total['p99_ms'])} ms",
    ]
    lines.append(
        "- preflight (each flow once before the load): "
        + ("; ".join(report["preflight"]) if report["preflight"] else "every answer 2xx or expected")
    )
    if report["failures"]:
        lines += ["- **FAILED**: " + "; ".join(report["failures"])]
    lines += [
        "",
        "## Per label",
        "",
        "| label | request | req/s | P50 ms | P95 ms | P99 ms | max ms | requests | expected refusals | unexpected errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["labels"]:
        lines.append(
            f"| {row['label']} | {row['request']} | {row['rps']:.1f} | {_ms(row['p50_ms'])} | {_ms(row['p95_ms'])} "
            f"| {_ms(row['p99_ms'])} | {_ms(row['max_ms'])} | {row['requests']:,} | {row['expected']:,} "
            f"| {row['errors']:,} ({row['error_rate']:.2%}) |"
        )
    lines += [
        "",
        "Latency: from the request's first byte written to the response's last byte read, by the "
        "load generator (nearest-rank percentiles). Expected refusals: "
        + "; ".join(f"`{label}` {', '.join(codes)}" for label, codes in EXPECTED.items())
        + ". Every other non-2xx answer and every transport error or timeout is an unexpected error.",
        "",
        "Non-2xx answers by label: "
        + ("; ".join(f"`{r['label']}` {r['answers']}" for r in report["labels"] if r["answers"]) or "none"),
        "",
        "## Flows",
        "",
        "| flow | weight | iterations completed | completed per s | refused (expected) | failed | cut by the end |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, weight in meta["mix"].items():
        it = report["iterations"].get(kind, {})
        lines.append(
            f"| {kind} | {weight:g} | {it.get('completed', 0):,} | {it.get('completed', 0) / meta['duration_s']:.2f} "
            f"| {it.get('refused', 0):,} | "
            f"{it.get('failed', 0):,} | {it.get('cut', 0):,} |"
        )
    lines += [
        "",
        f"## Over time ({report['window_s']:g} s windows)",
        "",
        "| window | req/s | P50 ms | P95 ms | P99 ms | unexpected errors | load average | other processes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in report["windows"]:
        start = w["index"] * report["window_s"]
        width = min(report["window_s"], meta["duration_s"] - start)
        lines.append(
            f"| {start:g}–{start + width:g} s | {w['requests'] / width if width > 0 else 0:.1f} | {_ms(w['p50_ms'])} "
            f"| {_ms(w['p95_ms'])} | {_ms(w['p99_ms'])} | {w['errors']} | {_num(w.get('loadavg'), '.1f')} "
            f"| {_num(w.get('others'), '.0%')} |"
        )
    if report.get("drift"):
        d = report["drift"]
        lines += [
            "",
            f"Drift, last window against the first: req/s {d['rps_ratio']:.2f}×, P95 {d['p95_ratio']:.2f}×. "
            "Load average and other processes (their share of the machine's CPU, approximately: the "
            "soak's processes are gunicorn, Celery, the load generator, the harness and its "
            "PostgreSQL backends) say how much of a change the machine's other users explain.",
        ]
    lines += ["", "## Machine", ""]
    if cpu:
        wall = cpu.get("total", 0) / max(1, meta["cpu_count"])

        def share(name: str) -> str:
            return f"{cpu[name] / cpu['total']:.0%}" if cpu.get("total") else "–"

        ours = sum(cpu.get(n, 0.0) for n in ("gunicorn", "postgres", "celery", "loadgen", "harness"))
        other = max(0.0, cpu.get("busy", 0.0) - ours)
        lines += [
            f"CPU over the {wall:.0f} s measured, as a share of the machine ({meta['cpu_count']} cores): "
            f"gunicorn {share('gunicorn')}, PostgreSQL (the soak's backends) {share('postgres')}, "
            f"Celery worker + beat {share('celery')}, load generator {share('loadgen')}, "
            f"harness (payment sandbox, event receiver) {share('harness')}; "
            f"**other processes {other / cpu['total']:.0%}** (the machine is shared); machine busy "
            f"{cpu['busy'] / cpu['total']:.0%}. CPU per request: gunicorn "
            f"{1000 * cpu['gunicorn'] / max(1, total['requests']):.1f} ms, PostgreSQL "
            f"{1000 * cpu['postgres'] / max(1, total['requests']):.1f} ms.",
        ]
    mem = report.get("memory_mb")
    if mem:
        lines += [
            "",
            "Resident memory (MB, process and children), start → end of the load: "
            + ", ".join(f"{n} {mem['start'][n]:.0f} → {mem['end'][n]:.0f}" for n in mem["start"]),
        ]
    data = report["data"]
    outbox = report["outbox"]
    lines += [
        "",
        "## Data after the soak",
        "",
        f"- orders by status: {data['orders']}; wallet ledger rows by kind: {data['wallet_entries']}",
    ]
    if "campaign" in data:
        c = data["campaign"]
        lines.append(
            f"- flash sale: {c['issued_count']:,} issued of {c['total_quantity']:,} "
            f"({c['coupon_rows']:,} coupon rows)"
        )
    lines += [
        f"- outbox after {outbox['drain_seconds']:g} s of draining: {outbox['counts']}; the receiver holds "
        f"{outbox['receiver']['distinct']:,} distinct events ({outbox['receiver']['duplicates']} duplicates, "
        f"{outbox['receiver']['rejected']} rejected requests)",
        *(f"- {note}" for note in report["notes"]),
        "",
        "## Invariants",
        "",
    ]
    for name in inv.get("passed", []):
        lines.append(f"- ok `{name}`")
    for breach in inv.get("breaches", []):
        lines.append(
            f"- **BREACH** `{breach['name']}`: {breach['count']} ({breach['description']}); e.g. {breach['examples']}"
        )
    if inv.get("output"):
        lines += ["", "```", inv["output"], "```"]
    samples = [(r["label"], s) for r in report["labels"] for s in r["samples"]]
    if samples:
        lines += ["", "## Unexpected error samples", ""]
        lines += [f"- `{label}` {s['status']} {s['path']}: {s['detail'][:200]!r}" for label, s in samples]
    lines.append("")
    return "\n".join(lines)  # fmt: skip


def build_report(
    config: SoakConfig, meta: dict[str, Any], result: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    duration = result["duration_s"]
    labels = label_rows(result, duration)
    values = sorted(result["latencies_ms"])
    requests = len(values)
    errors = sum(r["errors"] for r in labels)
    machine = result.get("machine_windows", {})
    windows = [{**w, **machine.get(w["index"], {})} for w in result["soak"]["windows"]]
    full = [w for w in windows if (w["index"] + 1) * config.window_s <= duration + 1e-6]
    drift = None
    if len(full) >= 2 and full[0]["requests"] and full[0]["p95_ms"]:
        drift = {
            "rps_ratio": full[-1]["requests"] / full[0]["requests"],
            "p95_ratio": full[-1]["p95_ms"] / full[0]["p95_ms"],
        }
    report = {
        "meta": {
            **meta,
            "label_floor": math.ceil(1 / config.max_error_rate) if config.max_error_rate > 0 else 1,
        },
        "totals": {
            "requests": requests,
            "rps": requests / duration if duration else 0.0,
            "errors": errors,
            "error_rate": errors / requests if requests else 0.0,
            "expected": sum(r["expected"] for r in labels),
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "p99_ms": percentile(values, 99),
        },
        "labels": labels,
        "iterations": result["soak"]["iterations"],
        "window_s": config.window_s,
        "windows": windows,
        "drift": drift,
        "cpu": result.get("cpu"),
        "memory_mb": result.get("memory_mb"),
        "transport_errors": result.get("transport_errors", {}),
        **extra,
    }
    report["failures"] = verdict(config, report)
    report["passed"] = not report["failures"]
    return report  # fmt: skip


def write_report(config: SoakConfig, report: dict[str, Any]) -> list[Path]:
    config.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(report["meta"]["started_at"]).strftime("%Y-%m-%dT%H%MZ")
    stem = f"soak-{stamp}" + (f"-{config.tag}" if config.tag else "")
    markdown = render_markdown(report)
    document = json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    paths = []
    for name in (stem, "soak-latest"):
        (config.results_dir / f"{name}.md").write_text(markdown)
        (config.results_dir / f"{name}.json").write_text(document)
        paths += [config.results_dir / f"{name}.md", config.results_dir / f"{name}.json"]
    print()
    print(markdown)
    return paths


# --- The run ----------------------------------------------------------------------------------


def _run(config: SoakConfig, services: Services) -> int:
    started_at = datetime.now(UTC)
    loadavg_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    bench = config.bench_config()
    port, sandbox_port, receiver_port = free_port(), free_port(), free_port()
    receiver_url = f"http://{HOST}:{receiver_port}/"
    os.environ.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        DATABASE_URL=config.database_url,
        REDIS_URL=config.redis_url,
        CELERY_BROKER_URL=config.redis_url,
        DB_POOL="false",
        PAYMENT_PROVIDER_URL=f"http://{HOST}:{sandbox_port}",
        DATA_PLATFORM_WEBHOOK_URL=receiver_url,
        DATA_PLATFORM_WEBHOOK_SECRET=SECRET,
        # Order mails: the stack sends them (the worker renders each), nowhere.
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
    )
    os.environ.pop("DEBUG", None)
    import django

    django.setup()
    from django.db import connections

    from apps.integrations.receiver import EventReceiver
    from bench.run import checkout_check, dataset_facts, wallet_check

    pg = recreate_database(bench)
    threads_note = size_threads(bench, pg)
    clear_redis(config.redis_url)
    env = dict(os.environ)
    manage(["migrate", "--noinput"], env)
    started = time.monotonic()
    manage(["seed_catalog", "--products", str(config.products)], env)
    seed_s = round(time.monotonic() - started, 1)
    dataset = dataset_facts()
    log(f"dataset: {dataset}")
    services.start_sandbox(sandbox_port)
    receiver = EventReceiver(secret=SECRET, port=receiver_port).start()
    log(f"data-platform receiver on {receiver.url}")
    try:
        started = time.monotonic()
        clients, traffic = build_traffic(config)
        log(f"traffic built in {time.monotonic() - started:.1f} s: {traffic}")
        connections.close_all()
        child_env = {
            **env,
            "DB_POOL": "true",
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": "1",
            "BENCH_BIND": f"{HOST}:{port}",
            "BENCH_WORKERS": str(config.workers),
            "BENCH_THREADS": "1",
            "BENCH_WORKER_CLASS": "sync",
            "PYTHONUNBUFFERED": "1",
        }
        gunicorn = services.start(
            "soak-gunicorn", [PYTHON, "-m", "gunicorn", "--config", "bench/gunicorn.conf.py"], child_env
        )
        celery_env = {**child_env, "DB_POOL": "false"}
        services.start(
            "soak-celery",
            [PYTHON, "-m", "celery", "-A", "joopang", "worker", "--concurrency", "2", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--hostname", "soak@%h"],
            celery_env,
        )  # fmt: skip
        services.start(
            "soak-beat",
            [PYTHON, "-m", "celery", "-A", "joopang", "beat", "--loglevel", "WARNING",
             "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
            celery_env,
        )  # fmt: skip
        log(
            f"gunicorn on {HOST}:{port} ({config.workers} sync workers), Celery worker (2 processes) and beat"
        )
        wait_ready(port, services)
        wait_worker(services)
        log("/readyz answered 200 and the worker answered a ping")
        from bench.scenarios import API_HEADERS

        problems = preflight(port, clients, API_HEADERS)
        for problem in problems:
            log(f"preflight: {problem}")
        services.check_alive()
        meter = CpuMeter(gunicorn.pid, config.database_url, bench.db_name)
        log(
            f"load: {config.connections} connections, {config.warmup_s:g} + {config.seconds:g} s, "
            f"mix {config.mix}"
        )
        result = run_soak_load(config, port, clients, meter, services)
        log(f"load done: {sum(result['statuses'].values())} requests, statuses {result['statuses']}")
        services.check_alive()
        services.stop_one("soak-gunicorn")
        counts, drain_s = drain_outbox(config.drain_s)
        log(f"outbox after {drain_s} s: {counts}")
        receiver_stats = receiver.stats()
        notes = [threads_note, checkout_check(), wallet_check(services)]
        data = data_facts(traffic["campaign_id"])
        services.stop()
    finally:
        receiver.stop()
    log("servers stopped; checking the invariants")
    invariants = check_invariants(config, env)
    log(f"check_invariants: exit {invariants['exit_code']}, {len(invariants.get('passed', []))} of "
        f"{invariants.get('checked', 0)} hold")  # fmt: skip
    meta = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "cpu_count": config.cores,
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "loadavg_start": loadavg_start,
        "loadavg_during": result.get("loadavg", {}),
        "loadavg_end": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "dataset": {**dataset, "requested_products": config.products, "seed_seconds": seed_s},
        "traffic": traffic,
        "connections": config.connections,
        "duration_s": config.seconds,
        "warmup_s": config.warmup_s,
        "mix": config.mix,
        "max_error_rate": config.max_error_rate,
        "outbox_horizon_s": config.outbox_horizon_s,
        "server": (
            f"gunicorn sync, {config.workers} workers ({SETTINGS}); Celery worker (prefork, 2 processes) "
            f"and beat (DatabaseScheduler); payment sandbox and data-platform receiver in the harness"
        ),
        "database": (
            f"PostgreSQL {pg['version']} (max_connections {pg['max_connections']}, shared_buffers "
            f"{pg['shared_buffers']}), Redis {config.redis_url}"
        ),
    }
    extra = {
        "data": data,
        "outbox": {"counts": counts, "drain_seconds": drain_s, "receiver": receiver_stats},
        "invariants": invariants,
        "notes": notes,
        "preflight": problems,
    }
    report = build_report(config, meta, result, extra)
    paths = write_report(config, report)
    log(f"wrote {', '.join(str(p) for p in paths)}")
    if report["failures"]:
        for failure in report["failures"]:
            log(f"FAILED: {failure}")
        return 1
    log("PASSED")
    return 0


def main() -> int:
    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    services = Services()
    try:
        config = SoakConfig.from_env()
        return _run(config, services)
    except KeyboardInterrupt:
        log("interrupted: stopping the servers")
        return 130
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 2
    finally:
        services.stop()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--loadgen":
        sys.exit(loadgen_main(sys.argv[2], sys.argv[3]))
    sys.exit(main())
