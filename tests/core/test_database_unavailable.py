"""The database unreachable is a clean 503 ``server.unavailable`` with ``Retry-After``, not
a 500: on the API (problem+json) and on the storefront's pages. ``tests/faults`` shows the
same against a real PostgreSQL that is stopped mid-traffic; these are the unit checks."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils import translation
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import errors
from apps.core.problems import DATABASE_RETRY_AFTER_SECONDS, django_request_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class _Raise(APIView):
    exc: Exception = OperationalError("connection failed: Connection refused")

    def get(self, request):
        raise self.exc


class OperationalApi(_Raise):
    exc = OperationalError('connection to server at "127.0.0.1", port 5999 failed: Connection refused')


class InterfaceApi(_Raise):
    exc = InterfaceError("connection already closed")


class IntegrityApi(_Raise):
    exc = IntegrityError("duplicate key value violates unique constraint")


class OkApi(APIView):
    def get(self, request):
        return Response({"ok": True})


def operational_page(request: HttpRequest) -> HttpResponse:
    raise OperationalError("the database system is shutting down")


handler500 = "joopang.errorpages.server_error"  # as joopang/urls.py (this module is the urlconf)

urlpatterns = [
    path(
        "api/v1/test-db/",
        include(
            [
                path("operational", OperationalApi.as_view()),
                path("interface", InterfaceApi.as_view()),
                path("integrity", IntegrityApi.as_view()),
                path("ok", OkApi.as_view()),
            ]
        ),
    ),
    path("test-db/page", operational_page),
    path("", include("joopang.urls")),
]


@pytest.mark.parametrize(
    "exc", [OperationalError("x"), InterfaceError("x")], ids=["operational", "interface"]
)
def test_connection_level_database_errors_map_to_service_unavailable(exc):
    error = django_request_error(exc)
    assert isinstance(error, errors.ServiceUnavailable)
    assert error.http_status == 503
    assert error.headers == {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}


@pytest.mark.parametrize("exc", [IntegrityError("x"), DataError("x"), RuntimeError("x")])
def test_other_errors_are_not_mapped_to_unavailable(exc):
    assert django_request_error(exc) is None


@pytest.mark.parametrize("name", ["operational", "interface"])
def test_api_answers_503_problem_json_with_retry_after(api_client, name):
    response = api_client.get(f"/api/v1/test-db/{name}", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    body = response.json()
    assert body["code"] == "server.unavailable"
    assert body["type"] == "urn:joopang:problem:server.unavailable"
    assert body["status"] == 503
    assert body["request_id"] == response["X-Request-ID"]
    # No internals: neither the driver's message nor the address of the database.
    assert "5999" not in response.content.decode()
    assert "connection" not in body["detail"].lower()


def test_korean_message(api_client):
    response = api_client.get("/api/v1/test-db/operational", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 503
    with translation.override("ko"):
        korean = errors.ServiceUnavailable().detail
    with translation.override("en"):
        english = errors.ServiceUnavailable().detail
    assert korean != english  # the catalog has the Korean message
    assert response.json()["detail"] == korean
    assert response["Content-Language"] == "ko"


def test_an_integrity_error_stays_a_500(api_client):
    response = api_client.get("/api/v1/test-db/integrity")
    assert response.status_code == 500
    assert response.json()["code"] == "server.error"


def test_storefront_page_answers_503_not_500(client):
    response = client.get("/test-db/page", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"shutting down" not in response.content
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)


@pytest.mark.parametrize("path", ["/test-db/page", "/api/v1/test-db/ok"])
def test_the_database_failing_under_a_middleware_is_a_503_too(path, monkeypatch):
    # given: the market lookup every request makes fails as a database that went away does
    from django.test import Client

    def gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("joopang.middleware.resolve_market", gone)

    # when: a page or an API call is asked for (Django's own handler answers: server_error)
    response = Client(raise_request_exception=False).get(path, HTTP_ACCEPT_LANGUAGE="en")

    # then: a clean 503 with Retry-After, not a 500
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
