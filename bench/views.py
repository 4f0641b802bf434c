"""The benchmark's baseline: the cheapest useful request this stack can answer.

A plain Django function view (no DRF, no serializer, no extra decorators) that runs one
indexed primary-key SELECT and returns a tiny JSON body. It passes through the project's
middleware like every API request does, so "scenario P95 / baseline P95" isolates what an
endpoint itself costs (DRF, queries, serialisation) from what every request costs
(gunicorn, WSGI, middleware, one database round trip).

``reserve_release`` is the inventory scenarios' write endpoint (reserve, then release,
through the services).

Mounted only by ``bench/urls.py`` (``joopang.settings.bench``); never in production URLs.
"""

from __future__ import annotations

import uuid
from functools import cache

from django.apps import apps
from django.db import DatabaseError
from django.db.models import Model
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@cache
def baseline_model() -> type[Model]:
    """The table the baseline reads: catalog products once they are seeded (the same
    table as the detail scenario), else ``auth.Permission`` (always migrated, int keys).
    Chosen once per process; the harness seeds before it starts the server."""
    try:
        product = apps.get_model("catalog", "Product")
        if product._default_manager.exists():
            return product
    except (LookupError, DatabaseError):
        pass
    return apps.get_model("auth", "Permission")


def baseline(request: HttpRequest, pk: int) -> JsonResponse:
    """``SELECT id FROM <table> WHERE id = %s LIMIT 1`` and answer ``{"id", "found"}``."""
    rows = list(baseline_model()._default_manager.filter(pk=pk).order_by().values_list("pk", flat=True)[:1])
    return JsonResponse({"id": pk, "found": bool(rows)})


def _lines(request: HttpRequest) -> list[tuple[str, int]] | None:
    """``?line=CODE:QTY`` (repeated); ``None`` when one is malformed."""
    lines = []
    for raw in request.GET.getlist("line"):
        code, _, quantity = raw.rpartition(":")
        if not code or not quantity.isdigit():
            return None
        lines.append((code, int(quantity)))
    return lines or None


@csrf_exempt
@require_POST
def reserve_release(request: HttpRequest) -> JsonResponse:
    """Reserve the lines for a fresh owner in the request's market, then release them:
    two use-cases, two transactions (``reservation_create``, ``reservation_release``),
    what a cart that is filled and emptied costs. POST only (it writes); CSRF-exempt
    because the load generator has no session. A refusal (not enough stock) is the
    domain error's status and code, so the report counts it as an error."""
    from apps.core.errors import DomainError
    from apps.inventory.services import reservation_create, reservation_release
    from apps.markets.selectors import market_get

    lines = _lines(request)
    if lines is None:
        return JsonResponse({"code": "bench.bad_lines"}, status=400)
    market = getattr(request, "market", None) or market_get("KR")
    owner = f"bench:{uuid.uuid4().hex}"
    try:
        held = reservation_create(owner=owner, lines=lines, market=market)
    except DomainError as exc:
        return JsonResponse({"code": exc.code, "detail": str(exc.detail)}, status=exc.http_status)
    released = reservation_release(owner=owner, reason="bench")
    return JsonResponse({"owner": owner, "reserved": len(held), "released": released})
