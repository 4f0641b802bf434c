"""Worker of ``test_inventory_sqlite.py``, run as ``python -m tests.concurrency.sqlite_race_worker``
in separate OS processes against one SQLite file (``DATABASE_URL``): ``setup`` opens the
stock, ``race <process> <threads>`` reserves one unit per thread, ``settle <seed> <owners...>``
commits or releases at random, ``check`` prints the totals. Prints JSON."""

from __future__ import annotations

import json
import os
import random
import sys
import threading


def main(argv: list[str]) -> object:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "joopang.settings.test")
    django.setup()
    from django.db import connections

    from apps.inventory import services
    from apps.inventory.errors import InsufficientStock
    from apps.inventory.models import StockLevel
    from apps.inventory.selectors import stock_drift
    from apps.markets.models import Market

    command, args = argv[0], argv[1:]
    if command == "setup":
        from tests.catalog.factories import ProductFactory

        product = ProductFactory(code="RACE", kr=1000, skus=1)
        for index, (code, on_hand) in enumerate((("KR-A", 3), ("KR-B", 2))):
            warehouse = services.warehouse_create(
                code=code, name=code, market=Market.objects.get(code="KR"), priority=10 + index
            )
            services.stock_level_create(sku_id=product.skus.get().pk, warehouse=warehouse, on_hand=on_hand)
        return "ok"
    if command == "race":
        process, threads = int(args[0]), int(args[1])
        market = Market.objects.get(code="KR")
        barrier = threading.Barrier(threads)
        out: list[list[str]] = []

        def attempt(index: int) -> None:
            owner = f"race:{process}:{index}"
            try:
                barrier.wait(timeout=30)
                try:
                    services.reservation_create(owner=owner, lines=[("RACE-1", 1)], market=market)
                    out.append([owner, "reserved"])
                except InsufficientStock as exc:
                    out.append([owner, exc.code])
            finally:
                connections.close_all()

        workers = [threading.Thread(target=attempt, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        return out
    if command == "settle":
        rng = random.Random(int(args[0]))
        done = []
        for owner in args[1:]:
            if rng.random() < 0.5:
                services.reservation_commit(owner=owner)
                done.append([owner, "committed"])
            else:
                services.reservation_release(owner=owner, reason="payment failed")
                done.append([owner, "released"])
        return done
    if command == "check":
        levels = StockLevel.objects.order_by("pk")
        return {
            "levels": [[lv.on_hand, lv.reserved] for lv in levels],
            "drift": stock_drift(),
        }
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
