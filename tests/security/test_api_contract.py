"""Issue 15 item 3 and issue 16 item 3 (the API side): unknown /api/ paths, operator
endpoints' methods, the schema's errors, Accept: application/problem+json, Bearer."""

from __future__ import annotations

import pytest

from tests.security.conftest import assert_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/products/1/nope", "/api/v2/products", "/api/", "/api"]
)
def test_unknown_api_path_is_a_problem_404_even_with_debug(client, debug, path):
    response = client.get(path)
    if path == "/api":  # APPEND_SLASH: /api -> /api/ (a redirect, then the 404)
        response = client.get(path, follow=True)
    body = assert_problem(response, 404, "request.not_found")
    assert "urlpatterns" not in response.content.decode()
    assert body["instance"].startswith("/api")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_api_path_with_any_method_is_404_not_a_csrf_page(client, debug, method):
    assert_problem(getattr(client, method)("/api/v1/nope"), 404, "request.not_found")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS", "M123"])
def test_operator_endpoints_answer_405_to_other_methods(client, debug, path, method):
    response = client.generic(method, path)
    body = assert_problem(response, 405, "request.method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
    assert body["method"] == method


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_operator_endpoints_still_answer_get_and_head(client, path):
    assert client.get(path).status_code == 200
    assert client.head(path).status_code == 200


def test_metrics_refusal_is_a_problem(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert_problem(response, 403, "auth.permission_denied")


@pytest.mark.parametrize(
    ("query", "headers", "status", "code"),
    [
        ("?format=xyz", {}, 404, "request.not_found"),
        ("", {"HTTP_ACCEPT": "text/html"}, 406, "request.not_acceptable"),
        ("?format=json", {"HTTP_X_MARKET": "ZZ"}, 400, "market.unknown"),
    ],
)
def test_schema_errors_are_problem_json_bodies(client, debug, query, headers, status, code):
    response = client.get(f"/api/v1/schema/{query}", **headers)
    assert_problem(response, status, code)  # parses as JSON: not YAML labelled JSON


def test_schema_still_serves_yaml_and_json(client):
    assert b"openapi: 3" in client.get("/api/v1/schema/").content
    assert client.get("/api/v1/schema/?format=json").json()["openapi"].startswith("3.")


def test_accept_problem_json_is_acceptable(client, product):
    ok = client.get("/api/v1/products", HTTP_ACCEPT="application/problem+json")
    assert ok.status_code == 200
    assert ok["Content-Type"] == "application/json"
    missing = client.get("/api/v1/products/999999", HTTP_ACCEPT="application/problem+json")
    assert_problem(missing, 404, "catalog.product_not_found")
    both = client.get("/api/v1/products", HTTP_ACCEPT="application/problem+json, application/json;q=0.5")
    assert both.status_code == 200


def test_an_unacceptable_type_is_still_a_json_406(client):
    assert_problem(client.get("/api/v1/products", HTTP_ACCEPT="image/png"), 406, "request.not_acceptable")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_is_case_insensitive(client, scheme):
    from apps.accounts import tokens
    from tests.accounts.factories import MemberFactory

    user = MemberFactory()
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"{scheme} {tokens.access_token_for(user)}")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == user.pk


def test_a_bearer_header_with_extra_parts_is_401(client):
    assert_problem(
        client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer a b"), 401, "auth.authentication_failed"
    )


def test_schema_errors_under_yaml_accept(client):
    response = client.get("/api/v1/schema/?format=xyz", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert_problem(response, 404, "request.not_found")


def test_a_csrf_failure_is_the_styled_403_page_with_the_request_id(debug):
    from django.test import Client

    from tests.security.conftest import assert_error_page

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/accounts/login/", {"username": "a@b.c", "password": "x"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert_error_page(response, 403, "Permission denied")


@pytest.mark.parametrize(
    ("method", "path"),
    [("trace", "/search"), ("put", "/search"), ("trace", "/accounts/login/"), ("trace", "/admin/login/")],
)
def test_a_method_a_page_does_not_serve_is_the_styled_405_page(client, debug, method, path):
    # Django's HttpResponseNotAllowed has an empty body: a blank page without the request id.
    from tests.security.conftest import assert_error_page

    response = getattr(client, method)(path, HTTP_ACCEPT_LANGUAGE="en")

    assert_error_page(response, 405, "Method not allowed")
    assert response["Allow"]
