"""Issue 16 item 3: every HTML route (found by walking the URL resolver) answers with a
Content-Security-Policy and a Permissions-Policy; every response with personal data is
``Cache-Control: no-store``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

_CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _routes(patterns: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(route with converters, view callback) for every route pattern (regex-only routes
    such as the admin's app index are reached through their named siblings)."""
    out: list[tuple[str, Any]] = []
    for entry in patterns:
        text = str(entry.pattern)
        if text.startswith("^") or "(?P" in text:
            text = text.lstrip("^").rstrip("$")
            if "(" in text or "\\" in text:
                continue  # a regex route (catch-alls, the admin's app index)
        if isinstance(entry, URLResolver):
            out.extend(_routes(entry.url_patterns, prefix + text))
        elif isinstance(entry, URLPattern):
            out.append((prefix + text, entry.callback))
    return out


def _url(route: str, callback: Any, samples: dict[str, Any]) -> str | None:
    model_admin = getattr(callback, "model_admin", None)

    def value(match: re.Match[str]) -> str:
        name = match.group("name")
        if name == "object_id" and model_admin is not None:
            obj = model_admin.model._default_manager.order_by("pk").first()
            if obj is None:
                raise LookupError
            return str(obj.pk)
        if name not in samples:
            raise LookupError
        return str(samples[name])

    try:
        return "/" + _CONVERTER.sub(value, route)
    except LookupError:
        return None


@pytest.fixture
def samples(db: Any) -> dict[str, Any]:
    from tests.catalog.factories import CategoryFactory, ProductFactory

    category = CategoryFactory(slug="hdr-cat")
    product = ProductFactory(category=category, code="HDR01")
    return {"product_id": product.pk, "slug": product.slug, "user_id": 1, "pk": product.pk}


def _html_pages(client: Any, samples: dict[str, Any]) -> list[tuple[str, Any]]:
    pages = []
    for route, callback in _routes(get_resolver().url_patterns):
        url = _url(route, callback, samples)
        if url is None or url.startswith(("/api/v1/schema", "/static/")) or "logout" in url:
            continue
        if url.startswith("/api/") and not url.startswith("/api/v1/docs"):
            continue  # JSON
        response = client.get(url)
        if response["Content-Type"].startswith("text/html"):
            pages.append((url, response))
    return pages


def _assert_policies(url: str, response: Any) -> None:
    csp = response.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp, url
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], (
        url
    )
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp, url
    policy = response.get("Permissions-Policy", "")
    assert "camera=()" in policy and "geolocation=()" in policy, url


def test_every_html_route_has_csp_and_permissions_policy_signed_in_as_staff(client, samples):
    from tests.accounts.factories import staff

    client.force_login(staff("ops_admin"))
    pages = _html_pages(client, samples)
    urls = [url for url, _ in pages]
    assert len(pages) > 40, urls  # the admin's changelists, forms and the storefront
    assert any(u.startswith("/admin/catalog/product/") and u.endswith("/change/") for u in urls)
    assert "/api/v1/docs/" in urls and "/" in urls
    for url, response in pages:
        _assert_policies(url, response)
        # A signed-in person's page carries personal data (their name, the admin's records).
        assert "no-store" in response["Cache-Control"], url


def test_admin_pages_allow_unfold_but_not_inline_scripts(client, samples):
    from tests.accounts.factories import staff

    client.force_login(staff("ops_admin"))
    csp = client.get("/admin/")["Content-Security-Policy"]
    script_src = csp.split("script-src")[1].split(";")[0]
    assert "'unsafe-eval'" in script_src and "'unsafe-inline'" not in script_src
    storefront = client.get("/")["Content-Security-Policy"]
    assert "'unsafe-eval'" not in storefront


def test_every_html_route_has_the_policies_for_a_guest(client, samples):
    pages = _html_pages(client, samples)
    assert len(pages) >= 6, [u for u, _ in pages]
    for url, response in pages:
        _assert_policies(url, response)
    home = client.get("/")
    assert "no-store" not in home.get("Cache-Control", "")  # nothing personal: cacheable


@pytest.mark.parametrize(
    "url", ["/nope/", "/search?q=%00", "/search?" + "&".join(f"p{i}=1" for i in range(1001))]
)
def test_error_pages_have_the_policies(client, settings, url):
    settings.DEBUG = False
    response = client.get(url)
    assert response.status_code in (400, 404)
    _assert_policies(url, response)


def test_swagger_ui_has_no_inline_script(client):
    html = client.get("/api/v1/docs/").content.decode()
    assert re.search(r"<script>(?!\s*</script>)", html) is None
    assert "script=" in html  # the start-up script is served from docs/?script
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


# --- no-store ------------------------------------------------------------------------------


def test_me_and_exports_are_no_store(client):
    from apps.accounts import tokens
    from tests.accounts.factories import MemberFactory

    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(MemberFactory())}"}
    for url in ("/api/v1/me", "/api/v1/me/export"):
        response = client.get(url, **auth)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"], url


def test_any_authenticated_api_answer_is_no_store(client, samples):
    from apps.accounts import tokens
    from tests.accounts.factories import MemberFactory

    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(MemberFactory())}"}
    assert "no-store" in client.get("/api/v1/products", **auth)["Cache-Control"]
    assert "no-store" not in client.get("/api/v1/products").get("Cache-Control", "")


def test_api_writes_and_token_answers_are_no_store(client):
    response = client.post(
        "/api/v1/auth/register",
        {
            "email": "new@example.test",
            "password": "a-long-Passw0rd!",
            "consents": ["terms", "privacy", "cross_border_transfer"],
        },
        content_type="application/json",
    )
    assert response.status_code in (201, 400), response.content
    assert "no-store" in response["Cache-Control"]
    token = client.post(
        "/api/v1/auth/token", {"grant_type": "password", "username": "x@y.z", "password": "nope"}
    )
    assert "no-store" in token["Cache-Control"]


def test_storefront_account_pages_are_no_store(client):
    from tests.accounts.factories import MemberFactory

    client.force_login(MemberFactory())
    for url in ("/accounts/profile/", "/"):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"], url


def test_the_personal_data_marker(rf):
    from django.http import HttpResponse

    from apps.core.cache_control import personal_data
    from joopang.middleware import SecurityHeadersMiddleware

    @personal_data
    def view(request: Any) -> HttpResponse:
        return HttpResponse("guest order 42")

    middleware = SecurityHeadersMiddleware(lambda request: view(request))
    request = rf.get("/orders/lookup")
    middleware.process_view(request, view, (), {})
    assert "no-store" in middleware(request)["Cache-Control"]


def test_a_public_image_keeps_its_cache_header_for_a_member(client, samples):
    from tests.accounts.factories import MemberFactory

    client.force_login(MemberFactory())
    response = client.get(f"/p/{samples['product_id']}/image.svg")
    assert response["Cache-Control"].startswith("public")


def test_our_templates_have_no_inline_script_the_policy_would_block():
    """Scripts come from static files or carry the request's nonce; no on* handlers, no
    javascript: URLs (they would be blocked by script-src in the browser)."""
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.BASE_DIR)
    templates = [*root.glob("templates/**/*.html"), *root.glob("apps/*/templates/**/*.html")]
    assert len(templates) > 10
    problems = []
    for path in templates:
        html = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            if "src=" not in tag and "csp_nonce" not in tag and 'type="application/json"' not in tag:
                problems.append(f"{path.relative_to(root)}: {tag}")
        problems += [f"{path.relative_to(root)}: {m}" for m in re.findall(r"\son[a-z]+\s*=", html)]
        if "javascript:" in html:
            problems.append(f"{path.relative_to(root)}: javascript: URL")
    assert problems == []


def test_a_refused_storefront_form_is_no_store(client):
    response = client.post("/accounts/login/", {"username": "minji@example.test", "password": "wrong"})
    assert response.status_code in (200, 400)  # the form again
    assert "no-store" in response["Cache-Control"]
