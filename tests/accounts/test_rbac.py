"""The role matrix: every API route and every admin changelist, for every role.

How the table is assembled
--------------------------
Every module ``tests/<app>/rbac_table.py`` may expose:

``API_ROUTES: dict[tuple[str, str], dict[str, bool]]``
    Key: ``(METHOD, route)``. ``route`` is the URL pattern as Django's resolver reports it,
    prefixes joined, with a leading slash: ``"/api/v1/products/<int:pk>"`` (for regex
    patterns, the regex text of each level joined, anchors removed). ``METHOD`` is one of
    the HTTP methods the view implements (GET, POST, PUT, PATCH, DELETE).
    Value: role -> allowed, for all seven roles ``guest, member, cs_agent,
    inventory_manager, marketing_manager, ops_admin, data_platform``.
``ADMIN_MODELS: dict[str, dict[str, bool]]``
    Key: the model's ``app_label.modelname`` (lower case) as registered in ``admin.site``.
    Value: role -> may open its changelist.
``API_SAMPLE_PATHS: dict[tuple[str, str], str]`` (optional)
    A concrete path to request for a route when the default sample values (int -> 1,
    str/slug/path -> "sample", uuid -> a zero UUID) do not fit.

Tables of all apps are merged (a key declared twice fails). Every API route under
``/api/v1/`` (except ``schema/`` and ``docs/``) and every registered admin model must
be in the table, and every table entry must exist: a new endpoint fails this test until
its access is declared.

Meaning of allow/deny
---------------------
API: allowed = the answer is neither 401 nor 403 (the request has an empty JSON body and
an ``Idempotency-Key``, so a 400/404/409 from an allowed role is fine). Denied = ``401
auth.login_required`` for guests, ``403 auth.permission_denied`` for signed-in roles.
Callers authenticate with a real Bearer access token (client-credentials token for
``data_platform``). Admin: allowed = 200 on the changelist; denied = 302 to the admin
login (not staff) or 403 (staff without the model's view permission).
"""

from __future__ import annotations

import importlib
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.accounts import tokens
from apps.accounts.roles import roles_sync
from tests.accounts.factories import MemberFactory, staff, system_client

ROLES = (
    "guest",
    "member",
    "cs_agent",
    "inventory_manager",
    "marketing_manager",
    "ops_admin",
    "data_platform",
)
API_PREFIX = "/api/v1/"
EXCLUDED_PREFIXES = ("/api/v1/schema/", "/api/v1/docs/")
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
SAMPLES = {"int": "1", "str": "sample", "slug": "sample", "path": "sample", "uuid": str(uuid.UUID(int=0))}
TESTS_DIR = Path(__file__).resolve().parents[1]


# --- the tables ----------------------------------------------------------------------------


def load_tables() -> tuple[dict, dict, dict]:
    api: dict[tuple[str, str], dict[str, bool]] = {}
    admin_models: dict[str, dict[str, bool]] = {}
    samples: dict[tuple[str, str], str] = {}
    for path in sorted(TESTS_DIR.glob("*/rbac_table.py")):
        module = importlib.import_module(f"tests.{path.parent.name}.rbac_table")
        for target, source, name in (
            (api, getattr(module, "API_ROUTES", {}), "API_ROUTES"),
            (admin_models, getattr(module, "ADMIN_MODELS", {}), "ADMIN_MODELS"),
            (samples, getattr(module, "API_SAMPLE_PATHS", {}), "API_SAMPLE_PATHS"),
        ):
            for key, value in source.items():
                if key in target:
                    raise AssertionError(f"{module.__name__}.{name}: {key!r} is declared twice")
                target[key] = value
    return api, admin_models, samples


def _pattern_text(pattern: Any) -> str:
    text = str(pattern.pattern)
    return text.removeprefix("^").removesuffix("$").removesuffix(r"\Z")


def _walk(patterns: list, prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found.extend(_walk(entry.url_patterns, prefix + _pattern_text(entry)))
        elif isinstance(entry, URLPattern):
            found.append(("/" + prefix + _pattern_text(entry), entry.callback))
    return found


def _methods(callback: Any) -> list[str]:
    actions = getattr(callback, "actions", None)  # DRF viewsets through a router
    if actions:
        return sorted(method.upper() for method in actions)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:
        return ["GET"]
    return sorted(m.upper() for m in HTTP_METHODS if hasattr(cls, m))


def api_routes() -> set[tuple[str, str]]:
    routes = set()
    for route, callback in _walk(get_resolver().url_patterns):
        if route.startswith(API_PREFIX) and not route.startswith(EXCLUDED_PREFIXES):
            routes.update((method, route) for method in _methods(callback))
    return routes


def admin_model_labels() -> set[str]:
    return {model._meta.label_lower for model in admin.site._registry}


def sample_path(route: str) -> str:
    path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "sample"), route)
    return re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)


API_TABLE, ADMIN_TABLE, SAMPLE_PATHS = load_tables()


def test_every_api_route_is_in_the_table():
    actual = api_routes()

    missing = sorted(actual - API_TABLE.keys())
    stale = sorted(API_TABLE.keys() - actual)

    assert missing == [], (
        f"routes without RBAC expectations (add them to tests/<app>/rbac_table.py): {missing}"
    )
    assert stale == [], f"RBAC table entries for routes that do not exist: {stale}"


def test_every_admin_model_is_in_the_table():
    actual = admin_model_labels()

    assert sorted(actual - ADMIN_TABLE.keys()) == [], "admin models without RBAC expectations"
    assert sorted(ADMIN_TABLE.keys() - actual) == [], "RBAC table entries for models not in the admin"


def test_every_table_row_names_every_role():
    incomplete = {
        key: sorted(set(ROLES) ^ set(row))
        for key, row in [*API_TABLE.items(), *ADMIN_TABLE.items()]
        if set(row) != set(ROLES)
    }

    assert incomplete == {}


# --- the callers ---------------------------------------------------------------------------


def make_caller(role: str) -> tuple[Any, dict[str, Any]]:
    """(user or None, extra token claims) for a role."""
    roles_sync(strict=True)
    if role == "guest":
        return None, {}
    if role == "member":
        return MemberFactory(email="rbac-member@example.test"), {}
    if role == "data_platform":
        client, _ = system_client("rbac data platform")
        return client.user, {"client_id": client.client_id, "roles": ["data_platform"]}
    return staff(role, email=f"rbac-{role}@staff.test"), {}


API_CASES = [
    pytest.param(method, route, role, API_TABLE[(method, route)][role], id=f"{method} {route} {role}")
    for (method, route) in sorted(API_TABLE.keys() & api_routes())
    for role in ROLES
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "route", "role", "allowed"), API_CASES)
def test_api_access(api_client, method, route, role, allowed):
    user, extra = make_caller(role)
    headers = {"HTTP_IDEMPOTENCY_KEY": f"rbac-{uuid.uuid4()}"}
    if user is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {tokens.access_token_for(user, extra=extra)}"
    path = SAMPLE_PATHS.get((method, route)) or sample_path(route)

    response = api_client.generic(method, path, data="{}", content_type="application/json", **headers)

    if allowed:
        assert response.status_code not in (401, 403), (response.status_code, getattr(response, "data", None))
    elif role == "guest":
        assert response.status_code == 401
        assert response.json()["code"] == "auth.login_required"
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "auth.permission_denied"


ADMIN_CASES = [
    pytest.param(label, role, ADMIN_TABLE[label][role], id=f"admin {label} {role}")
    for label in sorted(ADMIN_TABLE.keys() & admin_model_labels())
    for role in ROLES
]


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "role", "allowed"), ADMIN_CASES)
def test_admin_changelist_access(client, label, role, allowed):
    user, _ = make_caller(role)
    if user is not None:
        client.force_login(user)
    app_label, model_name = label.split(".")

    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))

    if allowed:
        assert response.status_code == 200
    elif user is not None and user.is_staff:
        assert response.status_code == 403
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
