"""The benchmark's baseline: the cheapest useful request this stack can answer.

A plain Django function view (no DRF, no serializer, no extra decorators) that runs one
indexed primary-key SELECT and returns a tiny JSON body. It passes through the project's
middleware like every API request does, so "scenario P95 / baseline P95" isolates what an
endpoint itself costs (DRF, queries, serialisation) from what every request costs
(gunicorn, WSGI, middleware, one database round trip).

Mounted only by ``bench/urls.py`` (``joopang.settings.bench``); never in production URLs.
"""

from __future__ import annotations

from functools import cache

from django.apps import apps
from django.db import DatabaseError
from django.db.models import Model
from django.http import HttpRequest, JsonResponse


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
