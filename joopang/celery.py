"""The Celery application. Tasks live in ``apps/<domain>/tasks.py``."""

import os

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_shutdown, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "joopang.settings.dev")

app = Celery("joopang")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**kwargs: object) -> None:
    """Workers log through Django's LOGGING (structlog JSON), not Celery's own format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@worker_init.connect
def _setup_tracing(**kwargs: object) -> None:
    """OpenTelemetry in the worker (off unless ``OTEL_*`` ask; ``joopang.tracing``). Set up
    in the main process before the pool forks: the SDK restarts its export thread in each
    child, and solo or thread pools run their tasks here."""
    from joopang.tracing import setup_tracing

    setup_tracing(service_name="joopang-worker")


def _install_structlog_step() -> None:
    # django-structlog carries the request_id of the request that queued a task into the
    # worker's log lines.
    from django_structlog.celery.steps import DjangoStructLogInitStep

    app.steps["worker"].add(DjangoStructLogInitStep)


_install_structlog_step()


def serve_worker_metrics(port: str | int | None, addr: str = "0.0.0.0") -> int | None:  # noqa: S104
    """Expose this worker's Prometheus series on ``port`` (``CELERY_METRICS_PORT``; unset =
    off). The relay's counters (delivered, retried, failed, latency, breaker) and the payment
    provider's live in the processes that run the tasks, which the web's ``/metrics`` cannot
    see. With ``PROMETHEUS_MULTIPROC_DIR`` (the image sets it) the pool's child processes write
    their samples there and this server sums them; without it, the main process's registry
    (the solo pool runs the tasks in it). Returns the port served, or ``None``."""
    if not port:
        return None
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    server, _ = start_http_server(int(port), addr=addr, registry=registry)
    return int(server.server_port)


@worker_ready.connect
def _serve_worker_metrics(**kwargs: object) -> None:
    serve_worker_metrics(
        os.environ.get("CELERY_METRICS_PORT"),
        os.environ.get("CELERY_METRICS_ADDR", "0.0.0.0"),  # noqa: S104
    )


@worker_process_shutdown.connect
def _forget_dead_child(pid: int | None = None, **kwargs: object) -> None:
    """A pool child that exits leaves its multi-process files; mark them dead so its gauges
    (``mostrecent``/``livesum``) stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
