"""Helpers for the hostile-input tests (issue 16): every answer is checked through the
real middleware stack, DEBUG on and off, for status, content type, code and request id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpResponse

PROBLEM = "application/problem+json"


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request: pytest.FixtureRequest, settings: Any) -> bool:
    settings.DEBUG = request.param
    return bool(request.param)


def assert_problem(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """A problem+json answer with ``code`` whose body and header carry the same request id."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith(PROBLEM), response["Content-Type"]
    body = json.loads(response.content)
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["title"] and body["detail"]
    request_id = response["X-Request-ID"]
    assert len(request_id) >= 8
    assert body["request_id"] == request_id
    return body


def assert_error_page(response: HttpResponse, status: int, title: str) -> str:
    """The styled storefront error page (base layout), showing the error and the request id."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("text/html"), response["Content-Type"]
    html = response.content.decode()
    request_id = response["X-Request-ID"]
    assert request_id in html
    assert title in html
    assert 'class="site-header"' in html, "not the styled page"
    return html


@pytest.fixture
def staff_client(client: Any, db: Any) -> Any:
    from tests.accounts.factories import staff

    client.force_login(staff("ops_admin"))
    return client


@pytest.fixture
def product(db: Any) -> Any:
    from tests.catalog.factories import ProductFactory

    return ProductFactory(code="SEC01")
