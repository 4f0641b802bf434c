"""Issue 22: "the data-platform token refused on every other endpoint", and nobody but the
data platform (and operations where API.md says so) on the data platform's API.

The routes are read from the URL conf (the same walk as tests/accounts/test_rbac.py), so
a route added later is checked without touching this file. Views that authenticate nobody
(``authentication_classes = []``) never read a token: for them the data platform's
request must answer exactly what a guest's does (the token opens nothing).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.urls import get_resolver

from apps.accounts import tokens
from apps.accounts.roles import roles_sync
from tests.accounts.factories import system_client
from tests.accounts.test_rbac import SAMPLE_PATHS, _methods, _walk, sample_path
from tests.integrations.api_helpers import EVENTS_URL, REDELIVERIES_URL, STATS_URL, person_client

INTEGRATIONS = "/api/v1/integrations/"


def _api_routes() -> list[tuple[str, str, Any]]:
    """Every (method, route, view class) under /api/v1/, schema and docs included."""
    found = []
    for route, callback in _walk(get_resolver().url_patterns):
        if route.startswith("/api/v1/"):
            cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
            found += [(method, route, cls) for method in _methods(callback)]
    return sorted(found, key=lambda r: (r[1], r[0]))


ROUTES = _api_routes()
OTHER_ROUTES = [r for r in ROUTES if not r[1].startswith(INTEGRATIONS)]


def test_the_walk_finds_the_shop_and_the_data_platform_api():
    routes = {(method, route) for method, route, _ in ROUTES}

    assert ("POST", "/api/v1/orders") in routes
    assert ("GET", "/api/v1/products") in routes
    assert {("GET", "/api/v1/integrations/events"), ("POST", "/api/v1/integrations/redeliveries")} <= routes
    assert len(OTHER_ROUTES) > 40


def _platform_token() -> str:
    roles_sync(strict=True)
    client, _ = system_client("rbac platform")
    return tokens.access_token_for(
        client.user, extra={"client_id": client.client_id, "roles": ["data_platform"]}
    )


def _call(api_client: Any, method: str, route: str, token: str | None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": f"rbac-{uuid.uuid4()}"}
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    path = SAMPLE_PATHS.get((method, route)) or sample_path(route)
    return api_client.generic(method, path, data="{}", content_type="application/json", **headers)


def _code(response: Any) -> str | None:
    """The problem code, or None for a success (whose body varies: request ids, times)."""
    return response.json().get("code") if response.status_code >= 400 else None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "route", "view"), OTHER_ROUTES, ids=[f"{m} {r}" for m, r, _ in OTHER_ROUTES]
)
def test_the_data_platform_token_opens_no_other_endpoint(api_client, method, route, view):
    token = _platform_token()

    response = _call(api_client, method, route, token)

    if view is not None and list(getattr(view, "authentication_classes", [None])) == []:
        as_guest = _call(api_client, method, route, None)
        assert (response.status_code, _code(response)) == (as_guest.status_code, _code(as_guest))
        return
    assert response.status_code == 403, (response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "auth.permission_denied"


REFUSED = [
    ("GET", EVENTS_URL, role)
    for role in ("guest", "member", "cs_agent", "inventory_manager", "marketing_manager", "ops_admin")
] + [
    (method, url, role)
    for method, url in (("POST", REDELIVERIES_URL), ("GET", STATS_URL))
    for role in ("guest", "member", "cs_agent", "inventory_manager", "marketing_manager")
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url", "role"), REFUSED, ids=[f"{m} {u} {r}" for m, u, r in REFUSED])
def test_only_the_data_platform_and_ops_reach_its_api(method, url, role):
    api = person_client(role)

    response = api.generic(method, url, data='{"event_ids": []}', content_type="application/json")

    assert response["Content-Type"].startswith("application/problem+json")
    if role == "guest":
        assert (response.status_code, response.json()["code"]) == (401, "auth.login_required")
    else:
        assert (response.status_code, response.json()["code"]) == (403, "auth.permission_denied")
