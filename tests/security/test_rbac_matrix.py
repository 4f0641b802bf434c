"""Issue 24 item 5: the role matrix over every route of ``joopang.urls`` that
tests/accounts/test_rbac.py does not already cover, for all seven roles.

tests/accounts/test_rbac.py holds the API half (every ``/api/v1/`` route x role, from the
``tests/<app>/rbac_table.py`` tables) and the admin changelists. This module adds:

- every storefront page, the health and metrics endpoints, the API catch-all and the
  admin site's own pages (``tests/security/route_table.py`` ``PAGES``);
- for every model registered in the admin: its add page, a write to its change page, its
  delete page and its history (``ADMIN_WRITES`` says who may add, change, delete; who may
  view is the changelist table of test_rbac.py);
- the custom admin views of a model (receive stock, adjust a wallet, change an order's
  status...: ``ADMIN_EXTRA_VIEWS``).

The routes are read from the URL conf: a route in none of the tables fails
``test_every_route_has_a_rule`` with its name, and a table entry for a route that no
longer exists fails it too. Each (route, role) is one real request with path parameters
filled from one set of objects built for the module (the member's own order, cart line,
saved method; the first object of each admin model). Outcomes are status classes:
``ok`` (2xx), ``login`` (3xx to a sign-in page), ``redirect`` (another 3xx), or the 4xx
code as a string. Storefront and admin callers use a session (``force_login``; the data
platform's system user too, the worst case: no session of it can exist otherwise); guests
have none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.urls import get_resolver

from tests.accounts.test_rbac import ADMIN_TABLE, ROLES, _walk, admin_model_labels
from tests.security.matrix import run, world  # noqa: F401  (world: the module's objects)
from tests.security.route_table import ADMIN_EXTRA_VIEWS, ADMIN_WRITES, PAGES

ADMIN_MODEL_VIEWS = {
    "": "changelist",
    "add/": "add",
    "<path:object_id>/change/": "change",
    "<path:object_id>/delete/": "delete",
    "<path:object_id>/history/": "history",
    "<path:object_id>/": "view_redirect",
}


# --- the routes ----------------------------------------------------------------------------


def _admin_model_route(route: str, labels: set[str]) -> tuple[str, str] | None:
    """(model label, rest of the route) for /admin/<app>/<model>/<rest>, else None."""
    parts = route.split("/", 4)
    if len(parts) < 4 or parts[1] != "admin" or f"{parts[2]}.{parts[3]}" not in labels:
        return None
    return f"{parts[2]}.{parts[3]}", parts[4] if len(parts) > 4 else ""


def classify_routes() -> dict[str, set[str]]:
    """Every route outside /api/v1/ (test_rbac.py's), sorted into the tables' kinds."""
    labels = admin_model_labels()
    kinds: dict[str, set[str]] = {"page": set(), "admin_model": set(), "admin_extra": set()}
    for route, _ in _walk(get_resolver().url_patterns):
        if route.startswith("/api/v1/"):
            continue
        model_route = _admin_model_route(route, labels)
        if model_route is None:
            kinds["page"].add(route)
        elif model_route[1] in ADMIN_MODEL_VIEWS:
            kinds["admin_model"].add(route)
        else:
            kinds["admin_extra"].add(route)
    return kinds


ROUTES = classify_routes()


def test_every_route_has_a_rule():
    missing = sorted(ROUTES["page"] - PAGES.keys()) + sorted(ROUTES["admin_extra"] - ADMIN_EXTRA_VIEWS.keys())
    stale = sorted(PAGES.keys() - ROUTES["page"]) + sorted(ADMIN_EXTRA_VIEWS.keys() - ROUTES["admin_extra"])
    labels = admin_model_labels()

    assert missing == [], f"routes without a rule (add them to tests/security/route_table.py): {missing}"
    assert stale == [], f"rules for routes that do not exist: {stale}"
    assert sorted(labels - ADMIN_WRITES.keys()) == [], "admin models without ADMIN_WRITES rows"
    assert sorted(ADMIN_WRITES.keys() - labels) == [], "ADMIN_WRITES rows for models not in the admin"
    assert sorted(ADMIN_TABLE.keys() ^ labels) == [], "test_rbac.py's ADMIN_MODELS differ from the admin"


def test_every_rule_names_every_role_once():
    rows = [*(row for _, row in PAGES.values()), *ADMIN_EXTRA_VIEWS.values()]
    assert all(set(row) == set(ROLES) for row in rows)
    for label, writes in ADMIN_WRITES.items():
        assert set(writes) == {"add", "change", "delete"}, label
        assert set().union(*writes.values()) <= set(ROLES) - {"guest", "member", "data_platform"}, label


PAGE_PATHS: dict[str, Callable[[dict[str, Any]], str]] = {
    "/c/<slug:slug>/": lambda o: f"/c/{o['category'].slug}/",
    "/p/<int:product_id>/": lambda o: f"/p/{o['product'].pk}/",
    "/p/<int:product_id>/image.svg": lambda o: f"/p/{o['product'].pk}/image.svg",
    r"/p/(?P<product_id>[0-9]+)/image\.(?P<lang>ko|en)\.svg": lambda o: f"/p/{o['product'].pk}/image.en.svg",
    "/p/<int:product_id>/<str:slug>/": lambda o: f"/p/{o['product'].pk}/{o['product'].slug}/",
    "/cart/items/<str:sku>/update": lambda o: f"/cart/items/{o['sku']}/update",
    "/cart/items/<str:sku>/remove": lambda o: f"/cart/items/{o['sku']}/remove",
    "/wallet/methods/<uuid:public_id>/remove": lambda o: f"/wallet/methods/{o['method'].public_id}/remove",
    "/coupons/campaigns/<int:campaign_id>/claim": lambda o: f"/coupons/campaigns/{o['campaign'].pk}/claim",
    "/orders/<uuid:public_id>/": lambda o: f"/orders/{o['paid'].public_id}/",
    "/orders/<uuid:public_id>/complete/": lambda o: f"/orders/{o['paid'].public_id}/complete/",
    "/orders/<uuid:public_id>/pay": lambda o: f"/orders/{o['pending'].public_id}/pay",
    "/orders/<uuid:public_id>/cancel": lambda o: f"/orders/{o['pending'].public_id}/cancel",
    "/orders/<uuid:public_id>/receipt/": lambda o: f"/orders/{o['paid'].public_id}/receipt/",
    "/admin/r/<path:content_type_id>/<path:object_id>/": lambda o: "/admin/r/1/1/",
    r"/admin/(?P<app_label>markets|django_celery_beat|django_celery_results|token_blacklist|accounts|auth|catalog|inventory|coupons|payments|orders|core|integrations|analytics)/": (
        lambda o: "/admin/orders/"
    ),
    "/admin/(?P<url>.*)": lambda o: "/admin/no-such-page/",
    "/api/": lambda o: "/api/v2/anything",
}


def page_path(route: str, objects: dict[str, Any]) -> str:
    if route in PAGE_PATHS:
        return PAGE_PATHS[route](objects)
    assert "<" not in route and "(" not in route, f"{route}: give PAGE_PATHS a filler"
    return route


PAGE_CASES = sorted(PAGES.keys() & ROUTES["page"])


@pytest.mark.django_db
@pytest.mark.parametrize("route", PAGE_CASES)
def test_page(world, route):  # noqa: F811
    method, expected = PAGES[route]
    path = page_path(route, world.objects)

    actual = {role: run(world, role, method, path) for role in ROLES}

    assert actual == expected, f"{method} {path}"


def _extra_path(route: str, objects: dict[str, Any]) -> str:
    label, rest = _admin_model_route(route, admin_model_labels()) or ("", "")
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)
    obj = model._default_manager.order_by("pk").first()
    rest = re.sub(r"<(?:path:)?(?:object_id|id)>", str(obj.pk), rest)
    app_label, model_name = label.split(".")
    return f"/admin/{app_label}/{model_name}/{rest}"


EXTRA_CASES = sorted(ADMIN_EXTRA_VIEWS.keys() & ROUTES["admin_extra"])


@pytest.mark.django_db
@pytest.mark.parametrize("route", EXTRA_CASES)
def test_admin_extra_view(world, route):  # noqa: F811
    path = _extra_path(route, world.objects)

    actual = {role: run(world, role, "GET", path) for role in ROLES}

    assert actual == ADMIN_EXTRA_VIEWS[route], path
