"""The benchmark's scenarios: a registry, so that adding one is a few lines.

A scenario is a function that reads the seeded database (through the ORM, in the harness
process, before any load starts) and returns the request paths to rotate over::

    @scenario("order_detail", "GET /api/v1/orders/{id}", p95_target_ms=200, requires=("orders",))
    def order_detail(ctx: Context) -> list[str]:
        ids = ctx.sample(Order.objects.values_list("pk", flat=True), 1000)
        return [f"/api/v1/orders/{pk}" for pk in ids]

``requires`` names Django apps (labels) that must be installed and migrated; a scenario
whose app does not exist yet is skipped with a note instead of failing the run. The order
of registration is the order of the run and of the table; ``baseline`` comes first.
"""

from __future__ import annotations

import random
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


class SkipScenario(Exception):
    """Raised by a scenario's builder when it cannot run on this database yet."""


@dataclass
class Context:
    """What a builder gets: a seeded random generator and a few helpers."""

    rng: random.Random = field(default_factory=lambda: random.Random(20240604))
    max_paths: int = 2000

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
    build: Callable[[Context], list[str]]
    p95_target_ms: float | None = None
    requires: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


REGISTRY: dict[str, Scenario] = {}


def scenario(
    name: str,
    title: str,
    *,
    p95_target_ms: float | None = None,
    requires: Sequence[str] = (),
    headers: dict[str, str] | None = None,
) -> Callable[[Callable[[Context], list[str]]], Callable[[Context], list[str]]]:
    """Register a path builder as a scenario (see the module docstring)."""

    def register(build: Callable[[Context], list[str]]) -> Callable[[Context], list[str]]:
        if name in REGISTRY:
            raise ValueError(f"scenario {name!r} registered twice")
        REGISTRY[name] = Scenario(
            name=name,
            title=title,
            build=build,
            p95_target_ms=p95_target_ms,
            requires=tuple(requires),
            headers=dict(API_HEADERS if headers is None else headers),
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


# --- Scenarios ------------------------------------------------------------------------


@scenario("baseline", "plain Django view, one primary-key SELECT (bench/views.py)", headers={})
def baseline(ctx: Context) -> list[str]:
    from bench.views import baseline_model

    ids = ctx.sample(baseline_model()._default_manager.values_list("pk", flat=True))
    if not ids:
        raise SkipScenario(f"table {baseline_model()._meta.db_table} is empty")
    return [f"/bench/baseline/{pk}" for pk in ids]


@scenario(
    "product_list",
    "GET /api/v1/products?category=&sort= (rotating categories and sorts)",
    p95_target_ms=200,
    requires=("catalog",),
)
def product_list(ctx: Context) -> list[str]:
    _product_model(ctx)
    category = ctx.model("catalog", "Category")
    slugs = list(category._default_manager.values_list("slug", flat=True))
    if not slugs:
        raise SkipScenario("no categories seeded")
    pairs = [(slug, sort) for slug in slugs for sort in SORTS]
    return [f"/api/v1/products?{urlencode({'category': s, 'sort': o})}" for s, o in ctx.sample(pairs)]


@scenario(
    "product_detail",
    "GET /api/v1/products/{id} (rotating product ids)",
    p95_target_ms=200,
    requires=("catalog",),
)
def product_detail(ctx: Context) -> list[str]:
    product = _product_model(ctx)
    ids = ctx.sample(_active(product._default_manager.all()).values_list("pk", flat=True))
    if not ids:
        raise SkipScenario("no products seeded")
    return [f"/api/v1/products/{pk}" for pk in ids]


@scenario(
    "search",
    "GET /api/v1/products?q= (rotating Korean and English words)",
    requires=("catalog",),
)
def search(ctx: Context) -> list[str]:
    _product_model(ctx)
    return [f"/api/v1/products?{urlencode({'q': term})}" for term in SEARCH_TERMS]


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
