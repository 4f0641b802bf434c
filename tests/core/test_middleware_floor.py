"""Issue 25 item 1: the per-request floor is cheaper, with the same behaviour.

The middleware answers with the same headers, log fields and metrics as the libraries they
stand on (django-csp, django-structlog, django-prometheus), and a guest's request is
recognised without loading a session. Speed itself is shown by the benchmark
(``bench``'s baseline and baseline_bare), never here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from csp.decorators import csp_update
from csp.middleware import CSPMiddleware
from django.contrib.auth import login
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages import get_messages
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, QueryDict
from django.test import RequestFactory, override_settings
from django.utils.functional import empty
from prometheus_client import REGISTRY

from apps.core.request_info import is_unloaded_guest, known_user, query_get
from joopang.middleware import ContentSecurityPolicyMiddleware, LazyMessageMiddleware, RequestIdMiddleware

CSP = "Content-Security-Policy"


def _through(middleware: Any, request: HttpRequest, view: Any = None) -> HttpResponse:
    return middleware(view or (lambda r: HttpResponse("ok")))(request)


# --- Content-Security-Policy ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/admin/", "/api/v1/products"])
def test_the_cached_policy_is_django_csps_own(rf: RequestFactory, path: str) -> None:
    """Same directives as the library builds (the order of its directives is a set's)."""
    for uses_nonce in (False, True):
        ours_request, theirs_request = rf.get(path), rf.get(path)

        def view(request: HttpRequest) -> HttpResponse:
            if uses_nonce:
                str(request.csp_nonce)  # type: ignore[attr-defined]
            return HttpResponse("ok")

        ours = _through(ContentSecurityPolicyMiddleware, ours_request, view)[CSP]
        theirs_mw = type(
            "Theirs", (ContentSecurityPolicyMiddleware,), {"process_response": CSPMiddleware.process_response}
        )
        theirs = _through(theirs_mw, theirs_request, view)[CSP]
        if uses_nonce:
            theirs = theirs.replace(theirs_request._csp_nonce, ours_request._csp_nonce)  # type: ignore[attr-defined]
            assert f"'nonce-{ours_request._csp_nonce}'" in ours  # type: ignore[attr-defined]
        else:
            assert "nonce-" not in ours
        assert sorted(ours.split("; ")) == sorted(theirs.split("; "))
        assert ("'unsafe-eval'" in ours) is path.startswith("/admin/")


def test_each_response_carries_its_own_requests_nonce(rf: RequestFactory) -> None:
    seen = []
    for _ in range(2):
        request = rf.get("/")
        response = _through(
            ContentSecurityPolicyMiddleware, request, lambda r: HttpResponse(str(r.csp_nonce))
        )
        nonce = response.content.decode()
        assert f"'nonce-{nonce}'" in response[CSP]
        seen.append(nonce)
    assert seen[0] != seen[1]


def test_a_per_view_update_and_a_changed_setting_are_honoured(rf: RequestFactory) -> None:
    updated = _through(
        ContentSecurityPolicyMiddleware,
        rf.get("/"),
        csp_update({"img-src": ["https://img.example"]})(lambda r: HttpResponse("ok")),
    )[CSP]
    assert "https://img.example" in updated
    assert "https://img.example" not in _through(ContentSecurityPolicyMiddleware, rf.get("/"))[CSP]
    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": ["'none'"]}}):
        assert _through(ContentSecurityPolicyMiddleware, rf.get("/"))[CSP] == "default-src 'none'"
    assert "default-src 'self'" in _through(ContentSecurityPolicyMiddleware, rf.get("/"))[CSP]


# --- Request id -------------------------------------------------------------------------------


def test_a_replaced_request_id_is_what_later_code_reads(rf: RequestFactory) -> None:
    seen: dict[str, str] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen["header"] = request.headers["X-Request-ID"]
        return HttpResponse("ok")

    kept = _through(RequestIdMiddleware, rf.get("/", HTTP_X_REQUEST_ID="abc-123"), view)
    assert kept["X-Request-ID"] == seen["header"] == "abc-123"
    request = rf.get("/", HTTP_X_REQUEST_ID="bad id\n")
    request.headers
    replaced = _through(RequestIdMiddleware, request, view)
    assert replaced["X-Request-ID"] == seen["header"] != "bad id\n"
    assert len(seen["header"]) == 32


# --- Guests without a session lookup ----------------------------------------------------------


def _authenticated(request: HttpRequest) -> HttpRequest:
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    AuthenticationMiddleware(lambda r: HttpResponse()).process_request(request)
    return request


@pytest.mark.django_db
def test_a_guest_is_known_without_loading_the_session(rf: RequestFactory) -> None:
    request = _authenticated(rf.get("/"))
    assert is_unloaded_guest(request) and known_user(request) is None
    assert not request.session.accessed
    assert request.user._wrapped is empty  # type: ignore[union-attr]  # still lazy: nothing evaluated it
    assert not request.user.is_authenticated  # what Django itself finds


@pytest.mark.django_db
def test_anyone_who_may_be_signed_in_is_asked_for(rf: RequestFactory, django_user_model: Any) -> None:
    with_cookie = rf.get("/")
    with_cookie.COOKIES["sessionid"] = "x" * 32
    assert not is_unloaded_guest(_authenticated(with_cookie))

    member = django_user_model.objects.create_user(email="floor@example.com", password="pw-floor-1")
    signed_in = _authenticated(rf.get("/"))
    login(signed_in, member, backend="django.contrib.auth.backends.ModelBackend")
    assert not is_unloaded_guest(signed_in) and known_user(signed_in) == member

    set_by_hand = rf.get("/")
    set_by_hand.user = member
    assert known_user(set_by_hand) == member
    assert not is_unloaded_guest(rf.get("/"))  # no authentication ran: ask request.user


@pytest.fixture
def request_events() -> Iterator[list[dict[str, Any]]]:
    """django-structlog's request events (at every level) as structlog hands them to
    logging: the event dict with the bound context merged in."""
    events: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if isinstance(record.msg, dict):
                events.append(record.msg)

    logger = logging.getLogger("django_structlog.middlewares.request")
    handler, old_level = Collect(level=logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield events
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.mark.django_db
def test_the_request_lines_keep_every_field(client: Any, django_user_model: Any, request_events: Any) -> None:
    response = client.get("/cart/", HTTP_USER_AGENT="floor-test")
    started, finished = (
        next(e for e in request_events if e["event"] == name)
        for name in ("request_started", "request_finished")
    )
    assert started["request"] == "GET /cart/" and started["user_agent"] == "floor-test"
    assert finished["code"] == response.status_code and finished["request"] == "GET /cart/"
    assert finished["request_id"] == response["X-Request-ID"]
    assert finished["user_id"] is None and finished["market"] == "KR" and finished["ip"] == "127.0.0.1"

    member = django_user_model.objects.create_user(email="floor-log@example.com", password="pw-floor-1")
    client.force_login(member)
    request_events.clear()
    client.get("/cart/")
    finished = next(e for e in request_events if e["event"] == "request_finished")
    assert finished["user_id"] == member.pk


@pytest.mark.django_db
def test_below_the_level_nothing_is_sent_and_the_context_is_still_cleared(client: Any) -> None:
    logger = logging.getLogger("django_structlog.middlewares.request")
    old_level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        client.get("/cart/")
    finally:
        logger.setLevel(old_level)
    assert structlog.contextvars.get_contextvars() == {}


def test_query_get_reads_the_query_without_parsing_an_empty_one(rf: RequestFactory) -> None:
    empty_query = rf.get("/")
    assert query_get(empty_query, "lang") is None and "GET" not in empty_query.__dict__
    assert query_get(rf.get("/", {"lang": "ko"}), "lang") == "ko"
    replaced = rf.get("/")
    replaced.GET = QueryDict("lang=en")  # type: ignore[assignment]  # as a middleware may
    assert query_get(replaced, "lang") == "en"


# --- Messages ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_messages_are_stored_only_when_used(rf: RequestFactory) -> None:
    from django.contrib import messages

    untouched = _authenticated(rf.get("/"))
    response = _through(LazyMessageMiddleware, untouched)
    assert "messages" not in response.cookies

    def add(request: HttpRequest) -> HttpResponse:
        messages.success(request, "saved")
        return HttpResponse("ok")

    used = _authenticated(rf.post("/"))
    response = _through(LazyMessageMiddleware, used, add)
    assert "messages" in response.cookies  # the cookie storage kept it for the next page
    following = _authenticated(rf.get("/"))
    following.COOKIES["messages"] = response.cookies["messages"].value
    shown = _through(
        LazyMessageMiddleware, following, lambda r: HttpResponse(" ".join(str(m) for m in get_messages(r)))
    )
    assert shown.content == b"saved"
    assert shown.cookies["messages"].value == ""  # read: the cookie is cleared, as Django does


# --- Metrics ----------------------------------------------------------------------------------


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_one_request_counts_once_in_every_series(client: Any) -> None:
    series = [
        ("django_http_requests_total_by_method_total", {"method": "GET"}),
        ("django_http_requests_total_by_transport_total", {"transport": "http"}),
        (
            "django_http_requests_total_by_view_transport_method_total",
            {"view": "healthz", "transport": "http", "method": "GET"},
        ),
        ("django_http_responses_total_by_status_total", {"status": "200"}),
        (
            "django_http_responses_total_by_status_view_method_total",
            {"status": "200", "view": "healthz", "method": "GET"},
        ),
        ("django_http_responses_total_by_charset_total", {"charset": "utf-8"}),
        ("django_http_requests_latency_seconds_by_view_method_count", {"view": "healthz", "method": "GET"}),
        ("django_http_responses_body_total_bytes_count", {}),
        ("django_http_requests_body_total_bytes_count", {}),
    ]
    before = [_sample(name, **labels) for name, labels in series]
    assert client.get("/healthz").status_code == 200
    after = [_sample(name, **labels) for name, labels in series]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1.0] * len(series)
