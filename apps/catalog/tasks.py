"""Beat tasks keeping the listing sort keys fresh: thin, idempotent, call services."""

from celery import shared_task

from apps.catalog import services


@shared_task(name="joopang.catalog.listings_refresh_due", soft_time_limit=50, time_limit=60)
def listings_refresh_due_task() -> int:
    return services.listings_refresh_due()


@shared_task(name="joopang.catalog.popularity_refresh", soft_time_limit=240, time_limit=300)
def popularity_refresh_task() -> int:
    return services.popularity_refresh()
