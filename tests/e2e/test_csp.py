"""The Content-Security-Policy blocks nothing our own pages need (issue 16 item 3): the
storefront, the admin (django-unfold's Alpine.js) and Swagger UI load and run in Chromium
with no ``securitypolicyviolation`` event and no CSP error in the console."""

from __future__ import annotations

from typing import Any

import pytest

from tests.accounts.factories import PASSWORD, MemberFactory, staff
from tests.catalog.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
});
"""


@pytest.fixture
def watched(browser) -> Any:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    console: list[str] = []
    page.on(
        "console", lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    yield page, console
    context.close()


def _visit(page: Any, console: list[str], url: str, ready: str | None = None) -> None:
    response = page.goto(url)
    assert response is not None and response.status < 400, url
    assert response.headers.get("content-security-policy"), url
    page.wait_for_load_state("networkidle")
    if ready:
        page.wait_for_selector(ready)
    violations = page.evaluate("window.__csp")
    assert violations == [], f"{url}: {violations}"
    assert console == [], f"{url}: {console}"


def test_storefront_pages_run_without_violations(watched, live_server):
    page, console = watched
    product = ProductFactory(category=CategoryFactory(slug="csp-cat"), code="CSP1", skus=2)
    base = live_server.url
    _visit(page, console, base + "/")
    _visit(page, console, base + f"/p/{product.pk}/{product.slug}/")
    _visit(page, console, base + "/c/csp-cat/")
    _visit(page, console, base + "/search?q=x")
    _visit(page, console, base + "/accounts/login/")
    MemberFactory(email="csp@example.test")
    page.get_by_label("이메일").fill("csp@example.test")
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="로그인").click()
    page.wait_for_url("**/accounts/profile/")
    _visit(page, console, base + "/accounts/profile/")
    _visit(page, console, base + f"/p/{product.pk}/{product.slug}/")  # option switching JS, signed in


def test_admin_runs_without_violations(watched, live_server):
    page, console = watched
    product = ProductFactory(code="CSP2")
    staff("ops_admin", email="ops-csp@staff.test")
    base = live_server.url
    _visit(page, console, base + "/admin/login/")
    page.fill("#id_username", "ops-csp@staff.test")
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(base + "/admin/")
    _visit(page, console, base + "/admin/")
    _visit(page, console, base + "/admin/catalog/product/")
    _visit(page, console, base + f"/admin/catalog/product/{product.pk}/change/")
    _visit(page, console, base + "/admin/accounts/user/")


def test_swagger_ui_runs_without_violations(watched, live_server):
    page, console = watched
    _visit(page, console, live_server.url + "/api/v1/docs/", ready=".swagger-ui .info")
    assert "Joopang REST API" in page.locator(".swagger-ui .info").inner_text()
