"""Signals to operators (issue 17 item 6): Prometheus series and their structlog events.

Each helper logs one structured event and moves its series, so a dashboard and a log
search tell the same story. Label values are bounded (kind, market codes).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import structlog
from prometheus_client import Counter, Gauge, Histogram

from apps.core.errors import DomainError

P = ParamSpec("P")
R = TypeVar("R")

logger = structlog.get_logger("apps.inventory")

RESERVATIONS = Counter(
    "joopang_inventory_reservations_total",
    "Reservation attempts by outcome (reserved, insufficient).",
    ["outcome"],
)
RESERVATIONS_RELEASED = Counter(
    "joopang_inventory_reservations_released_total",
    "Reservations that stopped holding stock, by how (committed, released, expired).",
    ["how"],
)
NEGATIVE_REFUSED = Counter(
    "joopang_inventory_negative_refused_total",
    "Stock changes refused because on hand would go below zero or below what is reserved.",
    ["kind"],
)
LOW_STOCK = Counter(
    "joopang_inventory_low_stock_total",
    "Times a stock level crossed into low stock (available at or below its threshold).",
)
LOW_STOCK_LEVELS = Gauge(
    "joopang_inventory_low_stock_levels",
    "Stock levels at or below their low-stock threshold (set at each /metrics scrape).",
    multiprocess_mode="mostrecent",
)
OVERDUE_RESERVATIONS = Gauge(
    "joopang_inventory_reservations_overdue",
    "Reservations still active more than the grace period past their expiry "
    "(set by the sweep and at each /metrics scrape).",
    multiprocess_mode="mostrecent",
)
RESERVATION_SECONDS = Histogram(
    "joopang_inventory_reservation_seconds",
    "Time to hold (reserve) or commit a reservation's stock, lock waits included, by operation "
    "(hold, commit) and outcome (ok, refused: a domain error such as insufficient stock, error).",
    ["operation", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def timed(operation: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: observe the wrapped reservation step in ``RESERVATION_SECONDS``. Two clock
    reads and one observation per call (a few microseconds); the step's own transaction is
    the caller's, so the time is what the step took inside it (lock waits included)."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        ok, refused, error = (RESERVATION_SECONDS.labels(operation, o) for o in ("ok", "refused", "error"))

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                result = func(*args, **kwargs)
            except DomainError:
                refused.observe(time.perf_counter() - started)
                raise
            except BaseException:
                error.observe(time.perf_counter() - started)
                raise
            ok.observe(time.perf_counter() - started)
            return result

        return wrapper

    return decorate


def reservation_refused(*, owner: str, items: list[dict[str, object]]) -> None:
    RESERVATIONS.labels(outcome="insufficient").inc()
    logger.info("inventory.reservation_refused", flow="reservation", owner=owner, items=items)


def negative_refused(*, sku: str, warehouse: str, kind: str, delta: int, on_hand: int, reserved: int) -> None:
    NEGATIVE_REFUSED.labels(kind=kind).inc()
    logger.warning(
        "inventory.negative_refused",
        flow="stock",
        sku=sku,
        warehouse=warehouse,
        kind=kind,
        delta=delta,
        on_hand=on_hand,
        reserved=reserved,
    )


def low_stock_crossed(*, sku: str, warehouse: str, available: int, threshold: int) -> None:
    LOW_STOCK.inc()
    logger.warning(
        "inventory.low_stock",
        flow="stock",
        sku=sku,
        warehouse=warehouse,
        available=available,
        threshold=threshold,
    )


def overdue_observed(*, count: int, oldest_seconds: float | None) -> None:
    OVERDUE_RESERVATIONS.set(count)
    if count:
        logger.warning(
            "inventory.reservations_overdue",
            flow="reservation",
            count=count,
            oldest_overdue_seconds=oldest_seconds,
        )


def gauges_refresh() -> None:
    """Set the two gauges from the database; ``/metrics`` calls it at each scrape
    (``METRICS_REFRESH_HOOKS``), so the web process exposes live values even though the
    sweep that also sets them runs in the Celery worker, whose registry nobody scrapes.
    Two count queries; a scrape every 15 s costs nothing worth caching."""
    from apps.inventory.selectors import low_stock_levels, reservations_overdue_count

    LOW_STOCK_LEVELS.set(low_stock_levels().count())
    OVERDUE_RESERVATIONS.set(reservations_overdue_count())
