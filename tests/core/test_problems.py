"""Every API error is RFC 9457 problem+json with a stable code, in the request language."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.urls")]

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "instance"}


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:joopang:problem:{code}"
    return body


def test_validation_error_lists_field_errors_in_english(api_client):
    response = api_client.post("/api/v1/test/validate", {"quantity": 0}, HTTP_ACCEPT_LANGUAGE="en")
    body = _problem(response, 400, "request.invalid")
    assert body["title"] == "Invalid request"
    assert body["instance"] == "/api/v1/test/validate"
    fields = {(e["field"], e["code"]) for e in body["errors"]}
    assert fields == {("name", "required"), ("quantity", "min_value")}
    assert response["Content-Language"] == "en"


def test_validation_error_in_korean(api_client):
    response = api_client.post(
        "/api/v1/test/validate", {"name": "x", "quantity": "abc"}, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9"
    )
    body = _problem(response, 400, "request.invalid")
    assert body["title"] == "잘못된 요청"
    assert body["errors"][0]["field"] == "quantity"
    assert response["Content-Language"] == "ko"


def test_malformed_json_is_request_malformed(api_client):
    response = api_client.generic(
        "POST", "/api/v1/test/validate", "{not json", content_type="application/json"
    )
    _problem(response, 400, "request.malformed")


def test_domain_error_carries_its_parameters(api_client):
    response = api_client.get("/api/v1/test/domain-error", HTTP_ACCEPT_LANGUAGE="en")
    body = _problem(response, 400, "market.unknown")
    assert body["market"] == "JP"
    assert body["detail"] == "The market JP does not exist or is not open. Use KR or US."


def test_guest_gets_login_required_in_korean(api_client):
    response = api_client.get("/api/v1/test/member-only", HTTP_ACCEPT_LANGUAGE="ko")
    body = _problem(response, 401, "auth.login_required")
    assert body["detail"] == "계속하려면 로그인해 주세요."


def test_forbidden_not_found_method_and_throttle(api_client):
    _problem(api_client.get("/api/v1/test/forbidden"), 403, "auth.permission_denied")
    _problem(api_client.get("/api/v1/test/nope"), 404, "request.not_found")
    body = _problem(api_client.delete("/api/v1/test/validate"), 405, "request.method_not_allowed")
    assert body["method"] == "DELETE"
    response = api_client.get("/api/v1/test/throttled", HTTP_ACCEPT_LANGUAGE="en")
    body = _problem(response, 429, "request.throttled")
    assert response["Retry-After"] == "17"
    assert body["detail"] == "Too many requests. Please try again in 17 seconds."


def test_unexpected_exception_is_a_500_problem_without_internals(api_client):
    response = api_client.get("/api/v1/test/crash", HTTP_ACCEPT_LANGUAGE="en")
    body = _problem(response, 500, "server.error")
    assert "boom" not in response.content.decode()
    assert body["request_id"] == response["X-Request-ID"]


def test_unknown_market_header_on_api_is_a_problem(api_client):
    response = api_client.get("/api/v1/test/validate", HTTP_X_MARKET="JP", HTTP_ACCEPT_LANGUAGE="en")
    body = _problem(response, 400, "market.unknown")
    assert body["market"] == "JP"


def test_throttle_wait_under_a_second_rounds_up():
    from rest_framework.exceptions import Throttled

    from apps.core.problems import as_domain_error

    error = as_domain_error(Throttled(wait=0.2))
    assert error.headers["Retry-After"] == "1"
    assert as_domain_error(Throttled(wait=1.01)).headers["Retry-After"] == "2"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 33 + "]" * 33,
        "[" * 5000 + "]" * 5000,
        '{"a": NaN}',
        '{"a": "\\udc80"}',
        b'"\xff\xfe"',
        '{"a": 1',
        "",
    ],
)
def test_bounded_json_reader_refuses_what_json_loads_would_crash_on_or_accept(text):
    from apps.core.errors import RequestMalformed
    from apps.core.parsers import json_loads_bounded

    with pytest.raises(RequestMalformed):
        json_loads_bounded(text)


def test_bounded_json_reader_reads_ordinary_json():
    from apps.core.parsers import json_loads_bounded

    assert json_loads_bounded(b'{"a": [1, {"b": "\\u00e9"}]}') == {"a": [1, {"b": "é"}]}
    assert json_loads_bounded("[" * 32 + "]" * 32) is not None


def test_problem_bodies_never_echo_a_long_parameter_whole():
    from apps.core.errors import DomainError
    from apps.core.problems import problem_body
    from apps.markets.errors import UnknownMarket

    error: DomainError = UnknownMarket(market="M" * 10_000)
    body = problem_body(error, instance="/x?" + "q" * 10_000, request_id="r1")
    assert len(body["market"]) == 200 and body["market"].endswith("…")
    assert len(body["instance"]) == 200
    assert "M" * 65 not in body["detail"]
