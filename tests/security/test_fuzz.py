"""Property: whatever bytes, depths, sizes and parameter counts a client sends to a sample
of endpoints of each surface (API, storefront, admin, operator endpoints), the answer is
never a 5xx. Bounded (the ``security`` hypothesis profile) so it runs in seconds; CI runs
it derandomized (``CI=1``) so a failure reproduces."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

settings.register_profile(
    "security",
    max_examples=int(os.environ.get("SECURITY_FUZZ_EXAMPLES", "25")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
PROFILE = settings.get_profile("security")

pytestmark = pytest.mark.django_db

# --- what a hostile client sends ----------------------------------------------------------

#: Raw bytes, percent-encoded: NUL, controls, invalid UTF-8, encoded surrogates, huge digits.
raw_value = st.one_of(
    st.binary(max_size=40).map(lambda b: quote_from_bytes(b, safe="")),
    st.text(max_size=40).map(lambda t: quote(t, safe="")),
    st.sampled_from(
        ["%00", "%ED%A0%80", "%FF", "Infinity", "NaN", "1e999999", "-1", "9" * 40, "x" * 10_000, "..%2F..%2F"]
    ),
)
param_name = st.sampled_from(
    [
        "q",
        "category",
        "sort",
        "limit",
        "cursor",
        "min_price",
        "max_price",
        "in_stock",
        "sku",
        "lang",
        "market",
        "next",
        "app_label",
        "model_name",
        "field_name",
        "term",
        "category__id__exact",
        "brand",
        "o",
        "p",
        "e",
        "x",
    ]
)
param_count = st.sampled_from([0, 1, 5, 999, 1000, 1001, 1500])


@st.composite
def query_string(draw: Any) -> str:
    pairs = [f"{draw(param_name)}={draw(raw_value)}" for _ in range(draw(st.integers(0, 6)))]
    count = draw(param_count)
    pairs += [f"f{i}=1" for i in range(count)]
    return "&".join(pairs)


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def json_body(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["deep", "object", "bytes", "big"]))
    if kind == "deep":
        return nested_json(draw(st.sampled_from([1, 31, 33, 500, 999, 1000, 5000, 20_000]))).encode()
    if kind == "object":
        value = draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                lambda kids: (
                    st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
                ),
                max_leaves=10,
            )
        )
        fields = {
            "email": value,
            "name": value,
            "market": value,
            "default_address": value,
            "grant_type": value,
        }
        return json.dumps(fields).encode()
    if kind == "big":
        size = draw(
            st.sampled_from(
                [
                    django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 100,
                    django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1,
                ]
            )
        )
        return b'{"name": "' + b"x" * size + b'"}'
    return draw(st.binary(max_size=200))


@st.composite
def form_body(draw: Any) -> tuple[bytes, str]:
    fields = [f"{draw(param_name)}={draw(raw_value)}" for _ in range(draw(st.integers(0, 4)))]
    fields += [f"f{i}=1" for i in range(draw(param_count))]
    body = "&".join(fields).encode()
    if draw(st.booleans()):
        body += draw(st.binary(max_size=50))
    return body, "application/x-www-form-urlencoded"


#: Header values as a WSGI server hands them over (raw bytes read as Latin-1), NUL included.
header_value = st.one_of(
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        ["", "KR", "US", "zz", "Bearer", "bearer x.y.z", "Basic !!", "*/*;q=", "ko-KR;q=abc", "x" * 5000]
    ),
)
header_name = st.sampled_from(
    [
        "HTTP_X_MARKET",
        "HTTP_ACCEPT_LANGUAGE",
        "HTTP_ACCEPT",
        "HTTP_AUTHORIZATION",
        "HTTP_COOKIE",
        "HTTP_X_REQUEST_ID",
        "HTTP_IDEMPOTENCY_KEY",
        "CONTENT_TYPE",
        "HTTP_X_FORWARDED_FOR",
    ]
)

path_segment = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.binary(min_size=1, max_size=12).map(lambda b: quote_from_bytes(b, safe="")),
    st.sampled_from(["1", "0", "%00", "1%00", "a" * 300]),
)

# --- where ------------------------------------------------------------------------------

GET_PATHS = {
    "api": [
        "/api/v1/products",
        "/api/v1/products/popular",
        "/api/v1/categories",
        "/api/v1/inventory/availability",
        "/api/v1/schema/",
        "/api/v1/me",
        "/api/v1/nope",
    ],
    "storefront": ["/", "/search", "/c/fuzz-cat/", "/p/{id}/", "/accounts/login/", "/accounts/signup/"],
    "admin": [
        "/admin/",
        "/admin/catalog/product/",
        "/admin/accounts/user/",
        "/admin/catalog/product/{id}/change/",
        "/admin/autocomplete/",
        "/admin/inventory/stocklevel/",
    ],
    "operator": ["/healthz", "/readyz", "/metrics"],
}
POST_PATHS = {
    "api": ["/api/v1/auth/register", "/api/v1/auth/token", "/api/v1/me"],
    "storefront": ["/accounts/login/", "/accounts/signup/", "/preferences", "/search", "/accounts/login"],
    "admin": ["/admin/login/", "/admin/catalog/product/add/"],
    "operator": ["/healthz"],
}


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    from tests.accounts.factories import MemberFactory, staff
    from tests.catalog.factories import CategoryFactory, ProductFactory

    product = ProductFactory(category=CategoryFactory(slug="fuzz-cat"), code="FUZZ1")
    return {"product": product, "staff": staff("ops_admin"), "member": MemberFactory()}


def _client(world: dict[str, Any], surface: str, signed_in: bool) -> Client:
    client = Client(raise_request_exception=False)  # a 500 must show as a 500, not raise
    if signed_in:
        client.force_login(world["staff"] if surface == "admin" else world["member"])
    return client


def _assert_no_5xx(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.content[:300]!r}"
    assert response.has_header("X-Request-ID")


@pytest.mark.parametrize("surface", list(GET_PATHS))
def test_random_queries_and_paths_never_5xx(world, surface, debug):
    @PROFILE
    @given(
        path=st.sampled_from(GET_PATHS[surface]),
        query=query_string(),
        segment=path_segment,
        signed_in=st.booleans(),
        method=st.sampled_from(["GET", "HEAD", "OPTIONS", "M123"]),
        headers=st.dictionaries(header_name, header_value, max_size=3),
    )
    def run(
        path: str, query: str, segment: str, signed_in: bool, method: str, headers: dict[str, str]
    ) -> None:
        client = _client(world, surface, signed_in)
        url = path.replace("{id}", segment if "id}" in path and method == "GET" else str(world["product"].pk))
        response = client.generic(method, f"{url}?{query}", **headers)
        _assert_no_5xx(response, f"{method} {url}?{query[:200]}")

    run()


@pytest.mark.parametrize("surface", list(POST_PATHS))
def test_random_bodies_never_5xx(world, surface, debug):
    @PROFILE
    @given(
        path=st.sampled_from(POST_PATHS[surface]),
        json_payload=json_body(),
        form=form_body(),
        use_json=st.booleans(),
        signed_in=st.booleans(),
        method=st.sampled_from(["POST", "PATCH", "PUT"]),
    )
    def run(
        path: str, json_payload: bytes, form: tuple[bytes, str], use_json: bool, signed_in: bool, method: str
    ) -> None:
        client = _client(world, surface, signed_in)
        body, content_type = (json_payload, "application/json") if use_json else form
        response = client.generic(method, path, data=body, content_type=content_type)
        _assert_no_5xx(response, f"{method} {path} {content_type} {len(body)} bytes")

    run()
