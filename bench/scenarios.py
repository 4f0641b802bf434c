"""The benchmark's scenarios: a registry, so that adding one is a few lines.

A scenario is a function that reads the seeded database (through the ORM, in the harness
process, before any load starts) and returns the request paths to rotate over::

    @scenario("order_detail", "GET /api/v1/orders/{id}", p95_target_ms=200, requires=("orders",))
    def order_detail(ctx: Context) -> list[str]:
        ids = ctx.sample(Order.objects.values_list("pk", flat=True), 1000)
        return [f"/api/v1/orders/{pk}" for pk in ids]

A builder may instead return a :class:`Load`: JSON bodies next to the paths, or one
request list per client with its own headers (a guest cart token minted in the builder)::

    return Load(clients=[ClientLoad(headers={"X-Cart-Token": token}, paths=[...], bodies=[...])])

``Load(unique_header="Idempotency-Key")`` makes every request carry a header value never
sent before (an idempotent POST that must create something each time: ``top_up``).

A flow of dependent requests (a checkout: refill the cart, create the order, pay the order
just created) is a :class:`Load` with ``flows``: each client runs its steps in order, a
step may use what an earlier one answered (``{id}`` in its path), and ``rows`` say which
step labels (and sums of steps) become rows of the table.

``requires`` names Django apps (labels) that must be installed and migrated; a scenario
whose app does not exist yet is skipped with a note instead of failing the run. The order
of registration is the order of the run and of the table; ``baseline`` comes first.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.apps import apps
from django.db import connection

T = TypeVar("T")

SORTS = ("price", "-price", "popular", "newest")
SEARCH_TERMS = (  # words of the seeded catalog (apps/catalog/demo.py), 2-syllable Korean included
    "운동화",
    "생수",
    "노트북",
    "커피",
    "이어폰",
    "텀블러",
    "shoes",
    "water",
    "laptop",
    "coffee",
    "headphones",
    "backpack",
)
API_HEADERS = {"Accept-Language": "ko", "X-Market": "KR"}
#: The reads are asked in both markets and both languages (issue 25 item 2): client *i* of
#: a read scenario is ``MARKET_LANGUAGES[i % 4]``.
MARKET_LANGUAGES = (("KR", "ko"), ("US", "en"), ("KR", "en"), ("US", "ko"))
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

#: The issue's throughput targets (issue 25 items 2 and 3), by row of the table: its req/s
#: at least this share of the same run's baseline req/s. A flow's row counts what it names:
#: ``checkout`` is completed create + pay iterations per second.
RPS_TARGETS: dict[str, float] = {
    "product_list": 0.5,
    "product_detail": 0.5,
    "search": 0.5,
    "html_home": 0.5,
    "html_category": 0.5,
    "html_product": 0.5,
    "html_search": 0.5,
    "reserve_release": 0.35,
    "add_to_cart": 0.35,
    "checkout": 0.25,
}


class SkipScenario(Exception):
    """Raised by a scenario's builder when it cannot run on this database yet."""


@dataclass
class ClientLoad:
    """The requests of one client (one load-generator connection): its own headers, added
    to the scenario's, and its paths with their JSON bodies (parallel to ``paths``)."""

    headers: dict[str, str]
    paths: list[str]
    bodies: list[str] | None = None
    #: More headers per request (parallel to ``paths``): a flash sale's attempts each carry
    #: another member's bearer token.
    request_headers: list[dict[str, str]] | None = None


@dataclass
class FlowStep:
    """One request of a flow. ``path`` may hold ``{name}``: the value a previous step of the
    same iteration saved (``save="id"`` keeps the JSON answer's ``id``). ``unique``: this
    step gets a fresh ``Load.unique_header`` value. Steps with the same ``sum`` are added up
    per iteration into a row of that name."""

    label: str
    method: str
    path: str
    body: str | None = None
    unique: bool = False
    save: str | None = None
    sum: str | None = None

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "method": self.method, "path": self.path}
        for name in ("body", "save", "sum"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.unique:
            out["unique"] = True
        return out


@dataclass
class ClientFlow:
    """The flow one client runs again and again, with its own headers (a bearer token)."""

    headers: dict[str, str]
    steps: list[FlowStep]


@dataclass(frozen=True)
class Row:
    """A row of the table made from a flow: a step label or a ``sum`` name."""

    label: str
    title: str
    p95_target_ms: float | None = None


@dataclass
class Load:
    """What a scenario sends. ``paths`` (and ``bodies``) are shared by all clients, which
    rotate over them; with ``clients`` client *i* sends ``clients[i % len(clients)]``'s."""

    paths: list[str] = field(default_factory=list)
    bodies: list[str] | None = None
    clients: list[ClientLoad] | None = None
    #: A header the load generator fills with a fresh value on every request (on the
    #: ``unique`` steps of a flow).
    unique_header: str | None = None
    #: Dependent requests run in order by each client (``clients`` and ``paths`` unused).
    flows: list[ClientFlow] | None = None
    #: The rows a flow's results make (step labels and sums), in table order.
    rows: list[Row] = field(default_factory=list)
    #: A burst: every client sends its list once, then stops (no warm-up; the run's
    #: duration is only a cap). The flash sale.
    once: bool = False
    #: The load generator records ``[finish ms, status, problem code, latency ms]`` per
    #: request (``events`` in its result).
    classify: bool = False
    #: Non-2xx statuses that are answers, not errors (a flash sale's 409 sold out).
    ok_statuses: tuple[int, ...] = ()
    #: False: no preflight requests (they would change what the load measures: a claim).
    preflight: bool = True
    #: What the harness checks after the load (``bench.run.flash_sale_check``).
    facts: dict[str, Any] = field(default_factory=dict)

    def _fresh(self, headers: dict[str, str]) -> dict[str, str]:
        if not self.unique_header:
            return headers
        return {**headers, self.unique_header: f"bench-{uuid.uuid4()}"}

    def all_paths(self) -> list[str]:
        if self.flows:
            return [step.path for flow in self.flows for step in flow.steps]
        if self.clients:
            return [p for c in self.clients for p in c.paths]
        return list(self.paths)

    def first_requests(self, k: int = 3) -> list[tuple[str, str | None, dict[str, str]]]:
        """A few (path, body, client headers) to ask once before the load (preflight)."""
        if self.clients:
            first = self.clients[0]
            bodies = first.bodies or [None] * len(first.paths)  # type: ignore[list-item]
            return [
                (p, b, self._fresh(first.headers)) for p, b in list(zip(first.paths, bodies, strict=True))[:k]
            ]
        seen: dict[str, str | None] = {}
        for i, path in enumerate(self.paths):
            if path not in seen:
                seen[path] = self.bodies[i] if self.bodies else None
            if len(seen) >= k:
                break
        return [(p, b, self._fresh({})) for p, b in seen.items()]

    def run_flow(
        self, flow: ClientFlow, send: Callable[[str, str, str | None, dict[str, str]], tuple[int, bytes]]
    ) -> list[tuple[FlowStep, str, int, bytes]]:
        """One iteration of ``flow`` through ``send(method, path, body, headers) -> (status,
        body)`` (httpx in the preflight, Django's test client in bench/profile.py), as the
        load generator runs it; stops at the first non-2xx answer. Returns (step, path,
        status, body) per request sent."""
        saved: dict[str, str] = {}
        out = []
        for step in flow.steps:
            path = step.path
            for name, value in saved.items():
                path = path.replace("{" + name + "}", value)
            headers = self._fresh(flow.headers) if step.unique else dict(flow.headers)
            status, body = send(step.method, path, step.body, headers)
            out.append((step, path, status, body))
            if not 200 <= status < 300:
                break
            if step.save:
                saved[step.save] = str(json.loads(body)[step.save])
        return out

    def requests(self) -> list[tuple[str, str | None, dict[str, str]]]:
        """Every (path, body, client and request headers), the clients interleaved (for
        bench/profile.py)."""
        if not self.clients:
            bodies = self.bodies or [None] * len(self.paths)  # type: ignore[list-item]
            return [(p, b, self._fresh({})) for p, b in zip(self.paths, bodies, strict=True)]
        out = []
        for k in range(max(len(c.paths) for c in self.clients)):
            for c in self.clients:
                if k < len(c.paths):
                    own = {**c.headers, **c.request_headers[k]} if c.request_headers else c.headers
                    out.append((c.paths[k], c.bodies[k] if c.bodies else None, self._fresh(own)))
        return out

    def spec(self) -> dict[str, Any]:
        """The load generator's part of the spec (``bench/loadgen.py``)."""
        out: dict[str, Any] = {"paths": self.all_paths()}
        if self.flows:
            out["flows"] = [
                {"headers": flow.headers, "steps": [step.spec() for step in flow.steps]}
                for flow in self.flows
            ]
        if self.bodies:
            out["bodies"] = self.bodies
        if self.unique_header:
            out["unique_header"] = self.unique_header
        if self.clients:
            out["clients"] = [
                {
                    "headers": c.headers,
                    "paths": c.paths,
                    **({"bodies": c.bodies} if c.bodies else {}),
                    **({"request_headers": c.request_headers} if c.request_headers else {}),
                }
                for c in self.clients
            ]
        if self.once:
            out["once"] = True
            out["warmup_s"] = 0
        if self.classify:
            out["classify"] = True
        return out


def as_load(built: list[str] | Load) -> Load:
    return built if isinstance(built, Load) else Load(paths=list(built))


@dataclass
class Context:
    """What a builder gets: a seeded random generator, the number of clients (load
    generator connections) and a few helpers."""

    rng: random.Random = field(default_factory=lambda: random.Random(20240604))
    max_paths: int = 2000
    clients: int = 32

    def sample(self, values: Iterable[T], k: int | None = None) -> list[T]:
        """Up to ``k`` (default ``max_paths``) of ``values``, in a reproducible shuffled order."""
        items = list(values)
        if not items:
            return []
        return self.rng.sample(items, min(len(items), k or self.max_paths))

    def model(self, app_label: str, name: str) -> Any:
        try:
            return apps.get_model(app_label, name)
        except LookupError as exc:
            raise SkipScenario(f"model {app_label}.{name} does not exist yet") from exc


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    build: Callable[[Context], list[str] | Load]
    p95_target_ms: float | None = None
    requires: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    #: Environment of gunicorn for this scenario (the harness restarts it when this
    #: differs from the last scenario's): ``{"REDIS_URL": ""}`` runs it on the local-memory
    #: cache, without Redis.
    server_env: dict[str, str] = field(default_factory=dict)


REGISTRY: dict[str, Scenario] = {}


Builder = TypeVar("Builder", bound=Callable[..., Any])


def scenario(
    name: str,
    title: str,
    *,
    p95_target_ms: float | None = None,
    requires: Sequence[str] = (),
    headers: dict[str, str] | None = None,
    method: str = "GET",
    server_env: dict[str, str] | None = None,
) -> Callable[[Builder], Builder]:
    """Register a path builder as a scenario (see the module docstring)."""

    def register(build: Builder) -> Builder:
        if name in REGISTRY:
            raise ValueError(f"scenario {name!r} registered twice")
        REGISTRY[name] = Scenario(
            name=name,
            title=title,
            build=build,
            p95_target_ms=p95_target_ms,
            requires=tuple(requires),
            headers=dict(API_HEADERS if headers is None else headers),
            method=method,
            server_env=dict(server_env or {}),
        )
        return build

    return register


def missing_requirements(item: Scenario) -> list[str]:
    return [label for label in item.requires if not apps.is_installed(f"apps.{label}")]


def _table_exists(model: Any) -> bool:
    return model._meta.db_table in connection.introspection.table_names()


def _product_model(ctx: Context) -> Any:
    product = ctx.model("catalog", "Product")
    if not _table_exists(product):
        raise SkipScenario("the catalog tables are not migrated")
    return product


def _active(qs: Any) -> Any:
    fields = {f.name for f in qs.model._meta.get_fields()}
    return qs.filter(is_active=True) if "is_active" in fields else qs


def api_headers(market: str, language: str) -> dict[str, str]:
    """What an API client sends to choose its market and language."""
    return {"X-Market": market, "Accept-Language": language}


def html_headers(market: str, language: str) -> dict[str, str]:
    """What a guest's browser sends once it has chosen a market and a language on the
    storefront (the choice cookies ``?market=&lang=`` set, and a matching
    Accept-Language); no session cookie."""
    from django.conf import settings

    return {
        "Accept": HTML_ACCEPT,
        "Accept-Language": language,
        "Cookie": f"{settings.MARKET_COOKIE_NAME}={market}; {settings.LANGUAGE_COOKIE_NAME}={language}",
    }


def across_markets(ctx: Context, paths: Sequence[str], headers: Callable[[str, str], dict[str, str]]) -> Load:
    """Every client asks every path, starting at its own offset, with the headers of its
    (market, language): ``MARKET_LANGUAGES[i % 4]`` for client *i*, so each pair has a
    quarter of the connections and the same paths."""
    if not paths:
        raise SkipScenario("no paths")
    clients = []
    for i in range(ctx.clients):
        market, language = MARKET_LANGUAGES[i % len(MARKET_LANGUAGES)]
        offset = (i * len(paths)) // ctx.clients
        clients.append(
            ClientLoad(headers=headers(market, language), paths=[*paths[offset:], *paths[:offset]])
        )
    return Load(clients=clients)


# --- Scenarios ------------------------------------------------------------------------


@scenario("baseline", "plain Django view, one primary-key SELECT (bench/views.py)", headers={})
def baseline(ctx: Context) -> list[str]:
    from bench.views import baseline_model

    ids = ctx.sample(baseline_model()._default_manager.values_list("pk", flat=True))
    if not ids:
        raise SkipScenario(f"table {baseline_model()._meta.db_table} is empty")
    return [f"/bench/baseline/{pk}" for pk in ids]


#: The settings module of ``baseline_bare``: ``joopang.settings.bench`` with the middleware
#: ``startproject`` generates.
BARE_SETTINGS = "joopang.settings.bench_bare"


@scenario(
    "baseline_bare",
    "the same view and paths on gunicorn with Django's default middleware (joopang.settings.bench_bare)",
    headers={},
    server_env={"DJANGO_SETTINGS_MODULE": BARE_SETTINGS},
)
def baseline_bare(ctx: Context) -> list[str]:
    """The baseline's paths (the same sample: the builders share a seeded generator, so a
    fresh one is used here), served by a stock Django middleware stack: what a project with
    sessions, auth, CSRF and messages costs per request, the floor Joopang's middleware is
    measured against (``bench.report``'s "middleware floor")."""
    return baseline(Context(max_paths=ctx.max_paths, clients=ctx.clients))


@scenario(
    "baseline_bare_2",
    "Django's default middleware again, right after baseline_bare: the floor is measured A-B-B-A",
    headers={},
    server_env={"DJANGO_SETTINGS_MODULE": BARE_SETTINGS},
)
def baseline_bare_2(ctx: Context) -> list[str]:
    """The second bare run of the floor's A-B-B-A order (baseline, baseline_bare,
    baseline_bare_2, baseline_2): the host's speed drifts within a minute by as much as the
    difference being measured (session 8: bare 1.38x the baseline's req/s 30 s after it, the
    floor 1.14x and 1.45x in two runs of the same code), and A-B-B-A cancels a steady drift
    that a single A-B would count as the middleware's."""
    return baseline(Context(max_paths=ctx.max_paths, clients=ctx.clients))


@scenario(
    "baseline_2",
    "the baseline again, right after the two bare runs: the second A of the floor's A-B-B-A",
    headers={},
)
def baseline_2(ctx: Context) -> list[str]:
    """The second full-stack run of the floor's A-B-B-A order (see ``baseline_bare_2``)."""
    return baseline(Context(max_paths=ctx.max_paths, clients=ctx.clients))


def _category_sorts(ctx: Context) -> list[tuple[str, str]]:
    """(slug, sort) of every active category and sort, shuffled."""
    _product_model(ctx)
    category = ctx.model("catalog", "Category")
    slugs = list(_active(category._default_manager.all()).values_list("slug", flat=True))
    if not slugs:
        raise SkipScenario("no categories seeded")
    return ctx.sample([(slug, sort) for slug in slugs for sort in SORTS])


def _product_ids(ctx: Context) -> list[int]:
    product = _product_model(ctx)
    ids = ctx.sample(_active(product._default_manager.all()).values_list("pk", flat=True))
    if not ids:
        raise SkipScenario("no products seeded")
    return ids


@scenario(
    "product_list",
    "GET /api/v1/products?category=&sort= (rotating categories and sorts; KR/US × ko/en)",
    p95_target_ms=200,
    requires=("catalog",),
)
def product_list(ctx: Context) -> Load:
    pairs = _category_sorts(ctx)
    paths = [f"/api/v1/products?{urlencode({'category': s, 'sort': o})}" for s, o in pairs]
    return across_markets(ctx, paths, api_headers)


@scenario(
    "product_detail",
    "GET /api/v1/products/{id} (rotating product ids; KR/US × ko/en)",
    p95_target_ms=200,
    requires=("catalog",),
)
def product_detail(ctx: Context) -> Load:
    return across_markets(ctx, [f"/api/v1/products/{pk}" for pk in _product_ids(ctx)], api_headers)


@scenario(
    "search",
    "GET /api/v1/products?q= (rotating Korean and English words; KR/US × ko/en)",
    requires=("catalog",),
)
def search(ctx: Context) -> Load:
    _product_model(ctx)
    return across_markets(
        ctx, [f"/api/v1/products?{urlencode({'q': term})}" for term in SEARCH_TERMS], api_headers
    )


# --- Storefront pages (HTML; issue 25 item 2) ---------------------------------------------


@scenario(
    "html_home",
    "GET / (storefront home page; KR/US × ko/en by the choice cookies)",
    requires=("catalog", "storefront"),
    headers={},  # the market and language come from each client's cookies
)
def html_home(ctx: Context) -> Load:
    _product_model(ctx)
    return across_markets(ctx, ["/"], html_headers)


@scenario(
    "html_category",
    "GET /c/{slug}/?sort= (category pages, rotating categories and sorts; KR/US × ko/en)",
    requires=("catalog", "storefront"),
    headers={},  # the market and language come from each client's cookies
)
def html_category(ctx: Context) -> Load:
    paths = [f"/c/{slug}/?{urlencode({'sort': sort})}" for slug, sort in _category_sorts(ctx)]
    return across_markets(ctx, paths, html_headers)


@scenario(
    "html_product",
    "GET /p/{id}/{slug}/ (product pages, rotating products; KR/US × ko/en)",
    requires=("catalog", "storefront"),
    headers={},  # the market and language come from each client's cookies
)
def html_product(ctx: Context) -> Load:
    product = _product_model(ctx)
    ids = _product_ids(ctx)
    slugs = dict(product._default_manager.filter(pk__in=ids).values_list("pk", "slug"))
    return across_markets(ctx, [f"/p/{pk}/{slugs[pk]}/" for pk in ids], html_headers)


@scenario(
    "html_search",
    "GET /search?q= (search result pages, rotating Korean and English words; KR/US × ko/en)",
    requires=("catalog", "storefront"),
    headers={},  # the market and language come from each client's cookies
)
def html_search(ctx: Context) -> Load:
    _product_model(ctx)
    return across_markets(ctx, [f"/search?{urlencode({'q': term})}" for term in SEARCH_TERMS], html_headers)


@scenario(
    "availability",
    "GET /api/v1/inventory/availability?sku=… (1–5 rotating SKU codes)",
    p95_target_ms=100,
    requires=("catalog", "inventory"),
)
def availability(ctx: Context) -> list[str]:
    _product_model(ctx)
    sku = ctx.model("catalog", "Sku")
    codes = ctx.sample(sku._default_manager.values_list("code", flat=True), 5000)
    if not codes:
        raise SkipScenario("no SKUs seeded")
    paths = []
    for _ in range(ctx.max_paths):
        chosen = ctx.rng.sample(codes, ctx.rng.randint(1, min(5, len(codes))))
        paths.append("/api/v1/inventory/availability?" + urlencode([("sku", c) for c in chosen]))
    return paths


#: The bench-only write endpoint (bench/views.py): reserve the lines, then release them.
RESERVE_RELEASE_PATH = "/bench/reserve-release"
#: Units given to the hot SKU before the load, so that 32 clients never run it dry.
HOT_SKU_UNITS = 1_000_000


def _kr_skus_with_stock(ctx: Context, *, at_least: int) -> list[str]:
    """Codes of active KR SKUs with at least ``at_least`` units available in the KR market."""
    _product_model(ctx)
    level = ctx.model("inventory", "StockLevel")
    from django.db.models import F, Sum

    codes = (
        level._default_manager.filter(
            warehouse__market_id="KR",
            warehouse__is_active=True,
            sku__is_active=True,
            sku__product__is_active=True,
        )
        .values("sku__code")
        .annotate(free=Sum(F("on_hand") - F("reserved")))
        .filter(free__gte=at_least)
        .order_by("sku__code")
        .values_list("sku__code", flat=True)
    )
    return ctx.sample(codes, 5000)


@scenario(
    "reserve_release",
    "POST /bench/reserve-release: reserve 1–3 random SKUs (1–2 units each), then release",
    p95_target_ms=400,
    requires=("catalog", "inventory"),
    method="POST",
)
def reserve_release(ctx: Context) -> list[str]:
    # SKUs with room for every client to hold the most one line asks (2 units) at once.
    codes = _kr_skus_with_stock(ctx, at_least=10)
    if not codes:
        raise SkipScenario("no KR SKU with stock seeded")
    paths = []
    for _ in range(ctx.max_paths):
        chosen = ctx.rng.sample(codes, ctx.rng.randint(1, min(3, len(codes))))
        lines = [("line", f"{code}:{ctx.rng.randint(1, 2)}") for code in chosen]
        paths.append(f"{RESERVE_RELEASE_PATH}?{urlencode(lines)}")
    return paths


@scenario(
    "hot_sku",
    "POST /bench/reserve-release: every client reserves and releases 1 unit of ONE SKU",
    requires=("catalog", "inventory"),
    method="POST",
)
def hot_sku(ctx: Context) -> list[str]:
    """One SKU, stocked with ``HOT_SKU_UNITS`` in its first KR warehouse (a receipt through
    the service, so the ledger holds): every request locks the same stock row."""
    codes = _kr_skus_with_stock(ctx, at_least=1)
    if not codes:
        raise SkipScenario("no KR SKU with stock seeded")
    code = codes[0]
    level = (
        ctx.model("inventory", "StockLevel")
        ._default_manager.filter(sku__code=code, warehouse__market_id="KR", warehouse__is_active=True)
        .select_related("warehouse")
        .order_by("warehouse__priority", "warehouse_id")
        .first()
    )
    if level.available < HOT_SKU_UNITS:
        from apps.inventory.services import stock_adjust

        stock_adjust(
            sku_code=code,
            warehouse_code=level.warehouse.code,
            delta=HOT_SKU_UNITS,
            kind="receipt",
            reason="Benchmark: hot SKU",
            actor=None,
            reference="bench:hot_sku",
        )
    return [f"{RESERVE_RELEASE_PATH}?{urlencode([('line', f'{code}:1')])}"]


# --- Carts (issue 18) ---------------------------------------------------------------------

CART_ITEMS_PATH = "/api/v1/carts/current/items"
CART_TOTALS_PATH = "/api/v1/carts/current/totals"
#: SKUs each add_to_cart client walks round-robin (disjoint pools, shuffled): a cart grows
#: to at most this many lines (CART_MAX_LINES is 50) and a line by one unit per lap.
#: (Random picks with replacement hit the limit on some lines: a first run had 3 such 422s
#: in 2,453 adds.)
CART_POOL = 25
#: Laps per cart: each line then ends at 10 units, the seeded max_per_order (never the 50
#: units asked of each SKU), and the client moves on to its next cart.
CART_LAPS = 10
#: Carts per add_to_cart client, used in turn (CART_POOL x CART_LAPS = 250 adds each). One
#: cart was enough until a quiet host served 371 adds/s: 270 of 7,420 adds in 23 s passed
#: the purchase limit (422) in session 9. Six carts hold 1,500 adds per client, ~2,000/s
#: over 23 s with 32 clients; each cart fills exactly as the single one did (a first lap of
#: new lines, then nine of one more unit each), so the cost per add is comparable.
CART_ROUNDS = 6


def _cart_skus(ctx: Context, k: int) -> list[str]:
    """Active KR SKUs with >= 50 units available and max_per_order >= 10 (no add is refused)."""
    codes = _kr_skus_with_stock(ctx, at_least=50)
    sku = ctx.model("catalog", "Sku")
    allowed = set(
        sku._default_manager.filter(code__in=codes, product__max_per_order__gte=10).values_list(
            "code", flat=True
        )
    )
    return [c for c in codes if c in allowed][:k]


def _guest_token() -> str:
    """A guest cart in KR through the service (what ``POST /api/v1/carts`` does)."""
    from apps.carts.services import guest_cart_create
    from apps.markets.models import Market

    _cart, token = guest_cart_create(market=Market.objects.get(code="KR"))
    return token


@scenario(
    "add_to_cart",
    "POST /api/v1/carts/current/items: each client adds 1 unit of a SKU of its own pool to its own guest cart",
    p95_target_ms=400,
    requires=("catalog", "inventory", "carts"),
    method="POST",
)
def add_to_cart(ctx: Context) -> Load:
    """Each client fills its guest carts in turn (``CART_ROUNDS``), each with ``CART_LAPS``
    shuffled laps of its own SKU pool: every line reaches the purchase limit and none
    passes it, for up to ``CART_ROUNDS`` x 250 adds per client (then the first cart again)."""
    codes = _cart_skus(ctx, ctx.clients * CART_POOL)
    if len(codes) < CART_POOL:
        raise SkipScenario("not enough KR SKUs with stock seeded")
    clients = []
    for i in range(ctx.clients):
        pool = codes[(i * CART_POOL) % len(codes) :][:CART_POOL] or codes[:CART_POOL]
        picks: list[str] = []
        tokens: list[str] = []
        for _cart in range(CART_ROUNDS):
            token = _guest_token()
            for _ in range(CART_LAPS):
                lap = list(pool)
                ctx.rng.shuffle(lap)
                picks += lap
                tokens += [token] * len(lap)
        clients.append(
            ClientLoad(
                headers={"Content-Type": "application/json"},
                paths=[CART_ITEMS_PATH] * len(picks),
                bodies=[json.dumps({"sku": code, "quantity": 1}) for code in picks],
                request_headers=[{"X-Cart-Token": token} for token in tokens],
            )
        )
    return Load(clients=clients)


@scenario(
    "cart_totals",
    "GET /api/v1/carts/current/totals: each client's own guest cart of 3–5 lines",
    p95_target_ms=200,
    requires=("catalog", "inventory", "carts"),
)
def cart_totals(ctx: Context) -> Load:
    from apps.carts.selectors import guest_cart_get
    from apps.carts.services import cart_item_add
    from apps.markets.models import Market

    codes = _cart_skus(ctx, 500)
    if len(codes) < 5:
        raise SkipScenario("not enough KR SKUs with stock seeded")
    kr = Market.objects.get(code="KR")
    clients = []
    for _ in range(ctx.clients):
        token = _guest_token()
        cart = guest_cart_get(token=token)
        assert cart is not None  # just created
        for code in ctx.rng.sample(codes, ctx.rng.randint(3, 5)):
            cart_item_add(cart=cart, sku_code=code, quantity=ctx.rng.randint(1, 3), market=kr)
        clients.append(ClientLoad(headers={"X-Cart-Token": token}, paths=[CART_TOTALS_PATH]))
    return Load(clients=clients)


# --- Wallet (issue 19) --------------------------------------------------------------------

TOP_UP_PATH = "/api/v1/wallet/top-ups"
#: KRW amounts each client cycles through: small, far below the per-top-up limit.
TOP_UP_AMOUNTS = (1_000, 2_000, 3_000, 5_000, 10_000)
#: The KR market's daily top-up limit during the run, so a limit is never what is measured
#: (32 members x ~100 top-ups of <= 10,000 won stay far below it).
TOP_UP_DAILY_LIMIT = 10**12
#: The benchmark's members' access tokens outlive a full run (minted before any load).
TOP_UP_TOKEN_SECONDS = 3 * 3600


def _bench_member(index: int) -> Any:
    """A KR member ``bench-wallet-<index>@bench.test``, registered through the service
    (the ``member`` role, the market's required consents)."""
    from apps.accounts.models import User
    from apps.accounts.services import required_consents, user_register

    email = f"bench-wallet-{index}@bench.test"
    user = User.objects.filter(email=email).first()
    if user is None:
        user = user_register(
            email=email,
            password=f"Bench-{uuid.uuid4()}",
            name=f"Bench wallet {index}",
            market="KR",
            consents=required_consents("KR"),
        )
    return user


@scenario(
    "top_up",
    "POST /api/v1/wallet/top-ups: each member charges its saved method (sandbox provider), fresh Idempotency-Key",
    # No P95 target (the issue sets none): read req/s and CPU next to the baseline.
    requires=("accounts", "payments"),
    method="POST",
)
def top_up(ctx: Context) -> Load:
    """One member per client, each with a card approved by the sandbox provider (which the
    harness runs; ``PAYMENT_PROVIDER_URL`` points the builder and gunicorn at it) and a
    bearer token; the KR daily limit is raised so every top-up is charged and credited."""
    from apps.accounts.tokens import access_token_for
    from apps.markets.models import Market
    from apps.markets.services import markets_cache_clear
    from apps.payments.errors import MethodDeclined, ProviderUnavailable
    from apps.payments.services import payment_method_add

    if not _table_exists(ctx.model("payments", "Wallet")):
        raise SkipScenario("the payments tables are not migrated")
    Market.objects.filter(code="KR").update(wallet_top_up_daily_limit=TOP_UP_DAILY_LIMIT)
    markets_cache_clear()
    kr = Market.objects.get(code="KR")
    clients = []
    for i in range(ctx.clients):
        user = _bench_member(i)
        try:
            method = payment_method_add(user=user, market=kr, kind="card", label="Bench Visa", last4="4242")
        except (ProviderUnavailable, MethodDeclined) as exc:  # the harness starts the sandbox
            raise SkipScenario(f"the payment provider did not approve a method ({exc.code})") from exc
        token = access_token_for(user, lifetime_seconds=TOP_UP_TOKEN_SECONDS)
        amounts = list(TOP_UP_AMOUNTS)
        ctx.rng.shuffle(amounts)
        clients.append(
            ClientLoad(
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                paths=[TOP_UP_PATH] * len(amounts),
                bodies=[
                    json.dumps({"amount": a, "payment_method_id": str(method.public_id)}) for a in amounts
                ],
            )
        )
    return Load(clients=clients, unique_header="Idempotency-Key")


# --- Orders (issue 20) --------------------------------------------------------------------

ORDERS_PATH = "/api/v1/orders"
ORDER_PAYMENTS_PATH = "/api/v1/orders/{id}/payments"
#: Units received into each checkout SKU before the load, so that no client runs one dry.
CHECKOUT_SKU_UNITS = 100_000
#: Each member's wallet (won): ~1,000 checkouts of the dearest seeded pair, far more than
#: a run does (the wallet is a balance, not a limit: this only has to never run out).
CHECKOUT_WALLET = 10**10
CHECKOUT_ADDRESS = {
    "recipient": "벤치 주문",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}


def _member(email: str, name: str) -> Any:
    """A KR member registered through the service (the ``member`` role, the market's
    required consents); the same one on a database already seeded."""
    from apps.accounts.models import User
    from apps.accounts.services import required_consents, user_register

    user = User.objects.filter(email=email).first()
    if user is None:
        user = user_register(
            email=email,
            password=f"Bench-{uuid.uuid4()}",
            name=name,
            market="KR",
            consents=required_consents("KR"),
        )
    return user


def checkout_steps(sku_codes: Sequence[str]) -> list[FlowStep]:
    """One checkout iteration: refill the member's cart (one unit of each SKU; a paid order
    took the last iteration's units out of it), place the order from the cart, pay it from
    the wallet. Create and pay carry fresh Idempotency-Keys; their sum is the ``checkout``
    row."""
    refill = [
        FlowStep(
            label="checkout.refill",
            method="POST",
            path=CART_ITEMS_PATH,
            body=json.dumps({"sku": code, "quantity": 1}),
        )
        for code in sku_codes
    ]
    create = FlowStep(
        label="checkout.create",
        method="POST",
        path=ORDERS_PATH,
        body=json.dumps({"from_cart": True, "shipping_address": CHECKOUT_ADDRESS}, ensure_ascii=False),
        unique=True,
        save="id",
        sum="checkout",
    )
    pay = FlowStep(
        label="checkout.pay",
        method="POST",
        path=ORDER_PAYMENTS_PATH,
        body=json.dumps({"method": "wallet"}),
        unique=True,
        sum="checkout",
    )
    return [*refill, create, pay]


@scenario(
    "checkout",
    "each member: refill a 2-line cart, POST /api/v1/orders from the cart, POST /orders/{id}/payments by wallet",
    p95_target_ms=400,
    requires=("catalog", "inventory", "accounts", "payments", "carts", "orders"),
    method="POST",
)
def checkout(ctx: Context) -> Load:
    """One KR member per client (bearer token, a wallet funded by an ops adjustment) with
    two SKUs of its own (stocked with ``CHECKOUT_SKU_UNITS`` more by a receipt, so stock
    rows are not shared between clients and never run out)."""
    from apps.accounts.services import staff_create_or_update
    from apps.accounts.tokens import access_token_for
    from apps.inventory.services import stock_adjust
    from apps.markets.models import Market
    from apps.payments.services import wallet_adjust, wallet_get_or_create

    if not _table_exists(ctx.model("orders", "Order")):
        raise SkipScenario("the orders tables are not migrated")
    codes = _cart_skus(ctx, 2 * ctx.clients)
    if len(codes) < 2:
        raise SkipScenario("not enough KR SKUs with stock seeded")
    level_model = ctx.model("inventory", "StockLevel")
    for code in codes:
        level = (
            level_model._default_manager.filter(
                sku__code=code, warehouse__market_id="KR", warehouse__is_active=True
            )
            .select_related("warehouse")
            .order_by("warehouse__priority", "warehouse_id")
            .first()
        )
        if level.available < CHECKOUT_SKU_UNITS:
            stock_adjust(
                sku_code=code,
                warehouse_code=level.warehouse.code,
                delta=CHECKOUT_SKU_UNITS,
                kind="receipt",
                reason="Benchmark: checkout",
                actor=None,
                reference=f"bench:checkout:{code}",
            )
    kr = Market.objects.get(code="KR")
    ops, _ = staff_create_or_update(
        email="bench-ops@bench.test", role="ops_admin", password=f"Bench-{uuid.uuid4()}", market=None
    )
    flows = []
    for i in range(ctx.clients):
        user = _member(f"bench-checkout-{i}@bench.test", f"Bench checkout {i}")
        wallet = wallet_get_or_create(user=user, market=kr)
        if wallet.balance < CHECKOUT_WALLET // 2:
            wallet_adjust(
                user=user,
                market=kr,
                amount=CHECKOUT_WALLET,
                reason="Benchmark funding",
                actor=ops,
                reference=f"bench:checkout:{user.pk}:{uuid.uuid4()}",
            )
        pair = [codes[(2 * i) % len(codes)], codes[(2 * i + 1) % len(codes)]]
        token = access_token_for(user, lifetime_seconds=TOP_UP_TOKEN_SECONDS)
        flows.append(
            ClientFlow(
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                steps=checkout_steps(pair),
            )
        )
    return Load(
        flows=flows,
        unique_header="Idempotency-Key",
        rows=[
            Row("checkout", "create + pay, the two latencies added up per completed iteration"),
            Row(
                "checkout.create", "POST /api/v1/orders {from_cart, shipping_address} (Idempotency-Key)", 400
            ),
            Row("checkout.pay", "POST /api/v1/orders/{id}/payments {method: wallet} (Idempotency-Key)", 400),
            Row("checkout.refill", "POST /api/v1/carts/current/items, twice per iteration (not checkout)"),
        ],
    )


# --- Coupons (issue 21) -------------------------------------------------------------------

#: The flash sale: coupons on offer, distinct members, claim attempts (at least).
FLASH_COUPONS = 1_000
FLASH_MEMBERS = 5_000
FLASH_ATTEMPTS = 20_000
FLASH_CLAIM_PATH = "/api/v1/coupons/campaigns/{id}/claim"
#: Made once per run and shared by both flash-sale scenarios (each has its own campaign).
_flash_members: list[tuple[int, str]] = []


def _flash_sale_members(count: int) -> list[tuple[int, str]]:
    """``count`` KR members ``bench-flash-<i>@bench.test`` as (id, bearer token), made in
    bulk: one INSERT per 1,000 users (an unusable password: they never sign in), one for
    their ``member`` role rows, and access tokens signed here with the claims
    ``access_token_for`` would read from the database (roles, market, locale): no query per
    member. No consent rows (a claim does not read them)."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts import roles
    from apps.accounts.models import User

    if len(_flash_members) >= count:
        return _flash_members[:count]
    emails = [f"bench-flash-{i}@bench.test" for i in range(count)]
    existing = dict(User.objects.filter(email__in=emails).values_list("email", "pk"))
    unusable = make_password(None)
    new = [
        User(email=e, name=f"Bench flash {i}", market_id="KR", locale="ko", password=unusable)
        for i, e in enumerate(emails)
        if e not in existing
    ]
    User.objects.bulk_create(new, batch_size=1000)
    ids = dict(User.objects.filter(email__in=emails).values_list("email", "pk"))
    member = Group.objects.get(name=roles.MEMBER)
    through = User.groups.through
    have = set(
        through.objects.filter(group=member, user_id__in=ids.values()).values_list("user_id", flat=True)
    )
    through.objects.bulk_create(
        [through(user_id=pk, group_id=member.pk) for pk in ids.values() if pk not in have], batch_size=2000
    )
    out = []
    for email in emails:
        user = User(pk=ids[email], email=email, market_id="KR", locale="ko")
        token = AccessToken.for_user(user)
        token["user_id"] = user.pk
        token.set_exp(lifetime=dt.timedelta(seconds=TOP_UP_TOKEN_SECONDS))
        token["roles"] = [roles.MEMBER]
        token["market"] = "KR"
        token["locale"] = "ko"
        out.append((user.pk, str(token)))
    _flash_members[:] = out
    return out


def flash_campaign(*, name_ko: str, name_en: str, quantity: int, email: str, per_user_limit: int = 1) -> Any:
    """An active KR campaign of ``quantity`` coupons (1,000 won off), ``per_user_limit`` per
    member, running now, made by a marketing manager (``email``, created when missing). Also
    the soak's."""
    from apps.accounts.services import staff_create_or_update
    from apps.core import clock
    from apps.coupons.services import campaign_create, campaign_transition

    actor, _ = staff_create_or_update(
        email=email,
        role="marketing_manager",
        password=f"Bench-{uuid.uuid4()}",
        market=None,
    )
    now = clock.now()
    campaign = campaign_create(
        data={
            "name_ko": name_ko,
            "name_en": name_en,
            "discount_type": "fixed",
            "discount_value": 1000,
            "markets": ["KR"],
            "total_quantity": quantity,
            "per_user_limit": per_user_limit,
            "starts_at": now - dt.timedelta(hours=1),
            "ends_at": now + dt.timedelta(days=1),
        },
        actor=actor,
    )
    campaign_transition(campaign_id=campaign.pk, to_status="active", actor=actor)
    return campaign


def _flash_campaign(name: str) -> Any:
    """An active KR campaign of ``FLASH_COUPONS`` coupons, one per member, running now."""
    return flash_campaign(
        name_ko=f"벤치 선착순 쿠폰 ({name})",
        name_en=f"Bench flash sale ({name})",
        quantity=FLASH_COUPONS,
        email="bench-marketing@bench.test",
    )


def flash_sale_load(ctx: Context, name: str) -> Load:
    """The attempts: every member in a shuffled order, four rounds, plus random repeats up
    to ``FLASH_ATTEMPTS`` rounded up to a multiple of the clients; attempt *k* goes to
    connection *k* mod clients, so a member's later attempts race on other connections
    (some at the same moment). Nobody is warmed up: the first request opens the sale."""
    _claim_api_or_skip(ctx)
    members = _flash_sale_members(FLASH_MEMBERS)
    campaign = _flash_campaign(name)
    total = -(-FLASH_ATTEMPTS // ctx.clients) * ctx.clients
    order: list[int] = []
    while len(order) < total:
        round_ = list(range(len(members)))
        ctx.rng.shuffle(round_)
        order.extend(round_)
    order = order[:total]
    path = FLASH_CLAIM_PATH.format(id=campaign.pk)
    clients = []
    for c in range(ctx.clients):
        mine = order[c :: ctx.clients]
        clients.append(
            ClientLoad(
                headers={},
                paths=[path] * len(mine),
                request_headers=[{"Authorization": f"Bearer {members[m][1]}"} for m in mine],
            )
        )
    return Load(
        clients=clients,
        once=True,
        classify=True,
        ok_statuses=(409,),
        preflight=False,
        facts={
            "kind": "flash_sale",
            "campaign_id": campaign.pk,
            "coupons": FLASH_COUPONS,
            "members": len(members),
            "attempts": total,
            "per_user_limit": 1,
        },
    )


def _claim_api_or_skip(ctx: Context) -> None:
    if not _table_exists(ctx.model("coupons", "Campaign")):
        raise SkipScenario("the coupons tables are not migrated")
    from django.urls import Resolver404, resolve

    try:
        resolve(FLASH_CLAIM_PATH.format(id=1))
    except Resolver404 as exc:
        raise SkipScenario(
            "the claim API (POST /api/v1/coupons/campaigns/{id}/claim) does not exist yet"
        ) from exc


#: The coupon issuance (issue 25 item 3): a campaign with a coupon for every claim the run
#: can make (members x per-member limit far above it), so every claim issues one.
ISSUE_COUPONS = 1_000_000
ISSUE_PER_MEMBER = 100


@scenario(
    "coupon_issue",
    f"POST {FLASH_CLAIM_PATH}: a campaign of {ISSUE_COUPONS:,} coupons, {ISSUE_PER_MEMBER} per member; "
    f"each client claims for its own {FLASH_MEMBERS:,} / 32 members in turn, so every claim issues "
    "(Redis gate, then the campaign row's conditional UPDATE + the coupon's INSERT)",
    p95_target_ms=400,
    requires=("accounts", "coupons"),
    method="POST",
)
def coupon_issue(ctx: Context) -> Load:
    """Steady coupon issuance at ``ctx.clients`` connections, compared by the harness with
    what PostgreSQL alone allows for the same hot-row transaction (``bench.run.pgbench_hot_row``,
    32 pgbench clients, in the same run). Client *c* claims for members c, c + clients, ...
    in turn: a member's claims never race each other (no seq retries), and a client would
    need ``ISSUE_PER_MEMBER`` laps of its ~156 members (15,600 claims) to hit the limit."""
    _claim_api_or_skip(ctx)
    members = _flash_sale_members(FLASH_MEMBERS)
    campaign = flash_campaign(
        name_ko="벤치 쿠폰 발급",
        name_en="Bench coupon issuance",
        quantity=ISSUE_COUPONS,
        email="bench-marketing@bench.test",
        per_user_limit=ISSUE_PER_MEMBER,
    )
    path = FLASH_CLAIM_PATH.format(id=campaign.pk)
    clients = []
    for c in range(ctx.clients):
        mine = members[c :: ctx.clients]
        clients.append(
            ClientLoad(
                headers={},
                paths=[path] * len(mine),
                request_headers=[{"Authorization": f"Bearer {token}"} for _pk, token in mine],
            )
        )
    return Load(
        clients=clients,
        preflight=False,  # a preflight claim would issue a coupon no answer of the load counts
        facts={
            "kind": "coupon_issue",
            "campaign_id": campaign.pk,
            "coupons": ISSUE_COUPONS,
            "per_user_limit": ISSUE_PER_MEMBER,
        },
    )


@scenario(
    "flash_sale",
    f"POST {FLASH_CLAIM_PATH}: {FLASH_COUPONS:,} coupons, {FLASH_MEMBERS:,} members, "
    f"{FLASH_ATTEMPTS:,}+ attempts at once (Redis gate)",
    p95_target_ms=400,
    requires=("accounts", "coupons"),
    method="POST",
)
def flash_sale(ctx: Context) -> Load:
    return flash_sale_load(ctx, "redis")


@scenario(
    "flash_sale_no_redis",
    "the same on gunicorn without Redis (local-memory cache: no gate, the database alone)",
    p95_target_ms=400,
    requires=("accounts", "coupons"),
    method="POST",
    server_env={"REDIS_URL": ""},
)
def flash_sale_no_redis(ctx: Context) -> Load:
    return flash_sale_load(ctx, "no redis")


@scenario(
    "baseline_again",
    "the baseline once more, last: how far the host's speed drifted during the run",
    headers={},
)
def baseline_again(ctx: Context) -> list[str]:
    """The baseline's paths again, after every other scenario (and on the run's own
    gunicorn: a scenario before it may have restarted it without Redis). Its req/s and CPU
    per request against the first baseline's say whether the host kept its speed: on this
    kind of shared machine the same request's CPU moved by up to 30 % within a run, which
    no "others" column can see (``bench.report``'s "host drift")."""
    return baseline(Context(max_paths=ctx.max_paths, clients=ctx.clients))
