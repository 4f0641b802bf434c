"""gunicorn settings for the web container (``gunicorn -c docker/gunicorn.conf.py``).

gunicorn serves plain HTTP on ``0.0.0.0:$PORT``; TLS is terminated by the reverse proxy or
load balancer in front of it, which must set ``X-Forwarded-Proto`` (Django trusts it through
``SECURE_PROXY_SSL_HEADER`` in ``joopang.settings.prod``) and overwrite, not append to,
whatever the client sent.

Environment:
    PORT                      listen port (8000)
    WEB_CONCURRENCY           worker processes (default 2 x CPUs + 1, at most 9)
    GUNICORN_THREADS          threads per worker (1)
    GUNICORN_TIMEOUT          seconds before a silent worker is killed and restarted (30)
    GUNICORN_MAX_REQUESTS     recycle a worker after this many requests, 0 = never (2000)
    PROMETHEUS_MULTIPROC_DIR  per-container folder for multi-process metrics (set in the image)
    LOG_LEVEL, LOG_FORMAT     as for Django: gunicorn's own lines are JSON too
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from joopang.logging import build_logging_config


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

bind = f"0.0.0.0:{_int('PORT', 8000)}"
workers = _int("WEB_CONCURRENCY", min(2 * _cpus + 1, 9))
threads = _int("GUNICORN_THREADS", 1)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5  # behind a proxy that keeps connections open
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# Heartbeat files in memory, not on the container's overlay filesystem (gunicorn's advice
# for Docker); the folder is private to the container.
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if Path(_SHM).is_dir() else None
# The HTTP parser's own limits (ADR 0005 §1): gunicorn answers what exceeds them itself,
# in plain text, before Django's input guard sees the request. The request line gets the
# largest allowed (8190 bytes, up from 4094) so that a query with 1,001 short parameters
# still reaches the guard and is answered 400 request.too_many_fields in problem+json.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# No runtime control socket: nothing in the container needs it.
control_socket_disable = True

# Logs: one JSON line per event on stderr, like Django's (structlog). The access log is off
# because django-structlog already logs every request with its request_id.
_LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
logconfig_dict: dict[str, Any] = build_logging_config(
    level=_LOG_LEVEL, fmt=os.environ.get("LOG_FORMAT", "json")
)
logconfig_dict["loggers"]["gunicorn.error"] = {
    "handlers": ["console"],
    "level": _LOG_LEVEL,
    "propagate": False,
}
logconfig_dict["loggers"]["gunicorn.access"] = {"handlers": [], "level": "WARNING", "propagate": False}
accesslog = None
errorlog = "-"


def _multiproc_dir() -> Path | None:
    raw = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(raw) if raw else None


def on_starting(server: Any) -> None:
    """Start every container with an empty metrics folder (stale files skew counters)."""
    folder = _multiproc_dir()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Let prometheus_client drop the live gauges of a worker that exited."""
    if _multiproc_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
