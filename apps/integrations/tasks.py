"""Relay tasks: thin and idempotent (claims are leases; running two at once is safe).

- ``joopang.integrations.relay_run``: drain due batches (``relay_drain``). Queued by beat
  every ``DATA_PLATFORM_SWEEP_SECONDS`` (5) and by ``relay_wake`` after each commit that
  published events.
- ``joopang.integrations.outbox_prune``: beat, daily; the retention window.

**Debounced wake-up.** A commit does not queue a task per event nor per transaction: the
hook ``relay_wake`` (registered with ``apps.core.outbox`` in ``AppConfig.ready``) queues
one only if it can ``cache.add`` the flag ``integrations:relay:wake`` (expires after
``DATA_PLATFORM_WAKE_DEBOUNCE_SECONDS``), and the task deletes the flag when it starts. So
while a run is queued, more commits queue nothing; once it has started, the next commit
queues exactly one more (which picks up whatever the running drain misses). With Redis the
flag is shared by every process; with the local-memory cache it is per process, which only
means more (harmless) runs. If the flag or the task is lost (cache flushed, broker hiccup),
nothing is lost: the events are in the outbox, and the beat sweep runs within seconds.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from apps.integrations import services

logger = structlog.get_logger("apps.integrations")

WAKE_KEY = "integrations:relay:wake"


@shared_task(
    name="joopang.integrations.relay_run",
    ignore_result=True,
    soft_time_limit=180,
    time_limit=240,
)
def relay_run_task() -> dict[str, Any]:
    """Deliver what is due (beat sweep, or woken on commit)."""
    try:
        cache.delete(WAKE_KEY)
    except Exception:  # noqa: BLE001 - the flag only debounces; a cache outage must not stop delivery
        logger.warning("integrations.wake_flag_unavailable", flow="outbox")
    return services.relay_drain().as_dict()


@shared_task(name="joopang.integrations.outbox_prune", soft_time_limit=600, time_limit=900)
def outbox_prune_task() -> dict[str, int]:
    """Beat, daily: delivered events (and their attempts) past the retention window."""
    return services.relay_prune()


def relay_wake() -> None:
    """After a commit that published or requeued events: queue one relay run unless one is
    queued already (module docstring). Never raises: the commit has happened, and the sweep
    catches up if the cache or the broker is down."""
    if not services.relay_enabled():
        return
    try:
        if not cache.add(WAKE_KEY, "1", timeout=max(1, int(settings.DATA_PLATFORM_WAKE_DEBOUNCE_SECONDS))):
            return
        # retry=False: a broker that is down must not hold the request that committed (kombu
        # would retry the publish for seconds); the sweep delivers instead.
        options: dict[str, Any] = {"retry": False}
        if settings.DATA_PLATFORM_RELAY_QUEUE:
            options["queue"] = settings.DATA_PLATFORM_RELAY_QUEUE
        relay_run_task.apply_async(**options)
    except Exception:  # noqa: BLE001 - the beat sweep is the backstop
        logger.warning("integrations.relay_not_woken", flow="outbox")
