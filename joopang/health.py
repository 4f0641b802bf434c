"""Operator endpoints: ``/healthz`` (liveness), ``/readyz`` (readiness), ``/metrics``.

They serve GET and HEAD only; any other method (POST, TRACE, a made-up one) is 405
``request.method_not_allowed`` (problem+json, ``Allow: GET, HEAD``), never a CSRF page.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django_prometheus.exports import ExportToDjangoView

from apps.core.errors import MethodNotAllowed, PermissionDenied
from apps.core.problems import problem_json_response

logger = structlog.get_logger(__name__)
ALLOWED_METHODS = ("GET", "HEAD")


def operator_endpoint(view: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    """GET/HEAD only (405 problem+json otherwise), exempt from CSRF (no forms, no cookies
    needed), never cached."""

    @csrf_exempt
    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ALLOWED_METHODS:
            response = problem_json_response(MethodNotAllowed(method=request.method or "?"), request)
            response["Allow"] = ", ".join(ALLOWED_METHODS)
            return response
        return view(request, *args, **kwargs)

    return wrapper


@operator_endpoint
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process can answer; checks nothing else on purpose."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("unexpected answer")


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("value not read back")
    cache.delete(key)


def _check_broker() -> None:
    from joopang.celery import app

    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.READINESS_TIMEOUT_SECONDS)
        if conn.transport_cls == "filesystem" or conn.transport.driver_type == "filesystem":
            folder = settings.CELERY_QUEUE_DIR
            if not folder.is_dir():
                raise RuntimeError(f"queue folder {folder} missing")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
}


@operator_endpoint
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, cache and broker answer; 503 naming the failing part."""
    results: dict[str, str] = {}
    failing: list[str] = []
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
            failing.append(name)
    status = 503 if failing else 200
    return JsonResponse(
        {"status": "unavailable" if failing else "ok", "failing": failing, "checks": results},
        status=status,
    )


def _client_allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS
    )


@operator_endpoint
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition, for staff or an allow-listed network only."""
    if not _client_allowed(request):
        return problem_json_response(PermissionDenied(), request)
    _refresh_gauges()
    return ExportToDjangoView(request)


def _refresh_gauges() -> None:
    """Run ``METRICS_REFRESH_HOOKS`` (dotted paths): gauges read from the database at
    scrape time. A failing hook (database down) is logged and skipped: the scrape still
    answers with every other series, and /readyz is where the outage shows."""
    for path in settings.METRICS_REFRESH_HOOKS:
        try:
            import_string(path)()
        except Exception:  # a gauge must never break the scrape
            logger.exception("metrics.refresh_failed", hook=path)
