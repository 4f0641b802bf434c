"""Run by the relay's process tests as ``python -m tests.integrations.relay_cli <command>``
against the database of ``DATABASE_URL``: ``publish <count> <aggregates> [prefix]`` publishes
events (one transaction of up to 100 each), ``status`` prints the events per status and
which claimant holds the delivering ones. Prints one JSON line."""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> object:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "joopang.settings.test")
    django.setup()
    from django.db import transaction
    from django.db.models import Count

    from apps.core.models import OutboxEvent
    from apps.core.outbox import publish

    command, args = argv[0], argv[1:]
    if command == "publish":
        count, aggregates = int(args[0]), int(args[1])
        prefix = args[2] if len(args) > 2 else "agg"
        done = 0
        while done < count:
            with transaction.atomic():
                for n in range(done, min(count, done + 100)):
                    publish(
                        type="test.happened",
                        aggregate_type="thing",
                        aggregate_id=f"{prefix}-{n % aggregates}",
                        market="KR",
                        payload={"n": n},
                    )
            done = min(count, done + 100)
        return done
    if command == "status":
        rows = OutboxEvent.objects.order_by().values_list("status").annotate(n=Count("pk"))
        claimants = sorted(
            set(OutboxEvent.objects.filter(status="delivering").values_list("claimed_by", flat=True))
        )
        return {"statuses": dict(rows), "claimants": claimants}
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
