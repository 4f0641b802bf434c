"""Signals to operators: low stock, refused negative changes, overdue reservations are
structlog events and Prometheus series."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from apps.inventory import services
from apps.inventory.errors import NegativeStock
from tests.inventory.factories import stocked_sku

pytestmark = pytest.mark.django_db


class LogRecorder:
    """Stands in for ``apps.inventory.metrics.logger`` (structlog caches its loggers, so
    ``structlog.testing.capture_logs`` misses them once another test configured logging)."""

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def _record(self, level: str):  # type: ignore[no-untyped-def]
        return lambda event, **kw: self.entries.append({"event": event, "log_level": level, **kw})

    def __getattr__(self, level: str):  # type: ignore[no-untyped-def]
        return self._record(level)


@pytest.fixture
def logs(monkeypatch) -> list[dict]:
    recorder = LogRecorder()
    monkeypatch.setattr("apps.inventory.metrics.logger", recorder)
    return recorder.entries


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_crossing_into_low_stock_is_logged_and_counted_once(settings, kr, logs):
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 2
    code = stocked_sku({"KR-A": 5})
    before = _sample("joopang_inventory_low_stock_total")

    services.reservation_create(owner="order:1", lines=[(code, 3)], market=kr)  # 5 -> 2 available
    services.reservation_create(owner="order:2", lines=[(code, 1)], market=kr)  # already low

    assert _sample("joopang_inventory_low_stock_total") - before == 1
    low = [entry for entry in logs if entry["event"] == "inventory.low_stock"]
    assert [(e["sku"], e["warehouse"], e["available"], e["threshold"]) for e in low] == [(code, "KR-A", 2, 2)]


def test_a_refused_negative_change_is_logged_and_counted(logs):
    code = stocked_sku({"KR-A": 1})
    before = _sample("joopang_inventory_negative_refused_total", kind="damage")

    with pytest.raises(NegativeStock):
        services.stock_adjust(
            sku_code=code, warehouse_code="KR-A", delta=-2, kind="damage", reason="x", actor=None
        )

    assert _sample("joopang_inventory_negative_refused_total", kind="damage") - before == 1
    [entry] = [e for e in logs if e["event"] == "inventory.negative_refused"]
    assert (entry["log_level"], entry["delta"], entry["on_hand"]) == ("warning", -2, 1)


def test_overdue_reservations_are_logged_with_the_gauge(kr, clock, logs):
    import datetime as dt

    code = stocked_sku({"KR-A": 5})
    services.reservation_create(owner="order:3", lines=[(code, 1)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=3)

    services.reservations_overdue_observe()

    assert _sample("joopang_inventory_reservations_overdue") == 1
    [entry] = [e for e in logs if e["event"] == "inventory.reservations_overdue"]
    assert (entry["count"], entry["oldest_overdue_seconds"]) == (1, 120.0)


def test_opening_movements_migration_covers_rows_without_a_ledger():
    import importlib

    from django.apps import apps

    from apps.inventory.models import StockLevel, StockMovement
    from apps.inventory.selectors import stock_drift
    from tests.catalog.factories import ProductFactory
    from tests.inventory.factories import StockLevelFactory

    legacy = StockLevelFactory(
        sku=ProductFactory(skus=1).skus.get(), on_hand=9, reserved=0
    )  # written before issue 17
    assert stock_drift()[0]["stock_level_id"] == legacy.pk

    migration = importlib.import_module("apps.inventory.migrations.0003_opening_movements")
    migration.forwards(apps, None)
    migration.forwards(apps, None)  # idempotent

    assert stock_drift() == []
    assert StockMovement.objects.filter(stock_level=legacy).values_list("kind", "delta").get() == (
        "receipt",
        9,
    )
    assert StockLevel.objects.get(pk=legacy.pk).on_hand == 9


def _scraped(body: str, name: str) -> float:
    [line] = [row for row in body.splitlines() if row.startswith(name + " ")]
    return float(line.split()[1])


def test_a_scrape_of_the_web_process_reads_both_gauges_from_the_database(settings, kr, clock, client):
    """The sweep that sets the gauges runs in the worker; /metrics on web must not show a
    stale (or never set) value, so each scrape reads them again."""
    import datetime as dt

    settings.INVENTORY_LOW_STOCK_THRESHOLD = 2
    low = stocked_sku({"KR-A": 2})
    stocked_sku({"KR-A": 50})
    services.reservation_create(owner="order:9", lines=[(low, 1)], market=kr, ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=3)  # the hold is now 2 minutes past expiry + grace

    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

    assert _scraped(body, "joopang_inventory_low_stock_levels") == 1
    assert _scraped(body, "joopang_inventory_reservations_overdue") == 1

    services.reservation_release(owner="order:9", reason="test")
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert _scraped(body, "joopang_inventory_reservations_overdue") == 0
