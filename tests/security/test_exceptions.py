"""Django's request-level exceptions raised anywhere (a view, an API view, a middleware)
get the right status, never a 500, DEBUG on or off; problem+json under /api/."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.security.conftest import assert_error_page, assert_problem

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.security.urls")]

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}

CASES = [
    ("http404", 404, "request.not_found", "Not found"),
    ("permission", 403, "auth.permission_denied", "Permission denied"),
    ("suspicious", 400, "request.malformed", "Malformed request"),
    ("bad-request", 400, "request.malformed", "Malformed request"),
    ("too-big", 413, "request.too_large", "Request too large"),
    ("too-many", 400, "request.too_many_fields", "Too many parameters"),
    ("unreadable", 400, "request.malformed", "Malformed request"),
]


@pytest.mark.parametrize(
    ("kind", "status", "code", "title"), [*CASES, ("recursion", 400, "request.malformed", "")]
)
def test_raised_by_an_api_view(client, debug, kind, status, code, title):
    assert_problem(client.get(f"/api/v1/test-raise/{kind}", **EN), status, code)


@pytest.mark.parametrize(("kind", "status", "code", "title"), CASES)
def test_raised_by_a_storefront_view(client, debug, kind, status, code, title):
    assert_error_page(client.get(f"/raise/{kind}", **EN), status, title)


@pytest.mark.parametrize(("kind", "status", "code", "title"), CASES)
def test_raised_by_a_middleware_on_the_api(client, settings, debug, kind, status, code, title):
    if debug and kind == "unreadable":
        pytest.skip("DEBUG: Django's technical 500 page for exceptions it does not special-case")
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[: settings.MIDDLEWARE.index("joopang.middleware.InputGuardMiddleware") + 1],
        "tests.security.urls.RaisingMiddleware",
        *settings.MIDDLEWARE[settings.MIDDLEWARE.index("joopang.middleware.InputGuardMiddleware") + 1 :],
    ]
    client = Client(raise_request_exception=False)  # the 500 path must answer, not raise
    response = client.get("/api/v1/products", HTTP_X_RAISE=kind, **EN)
    if debug and kind == "too-big":
        status = 400  # DEBUG: Django answers any SuspiciousOperation from a middleware 400
    assert response.status_code == status
    assert response["X-Request-ID"]
    if not debug or status in (400, 403, 404):
        assert response["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(("kind", "status", "code", "title"), CASES)
def test_raised_by_a_middleware_on_the_storefront(client, settings, debug, kind, status, code, title):
    if debug and kind == "unreadable":
        pytest.skip("DEBUG: Django's technical 500 page for exceptions it does not special-case")
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.security.urls.RaisingMiddleware"]
    client = Client(raise_request_exception=False)
    response = client.get("/", HTTP_X_RAISE=kind, **EN)
    if debug and kind == "too-big":
        status = 400  # DEBUG: Django answers any SuspiciousOperation from a middleware 400
    assert response.status_code == status  # under DEBUG: Django's technical page
    assert response["X-Request-ID"]
