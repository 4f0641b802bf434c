"""Catalog admin: roles from CatalogConfig.role_grants; marketing edits only promotion
flags and sale prices."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.admin.sites import site
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from apps.catalog.models import MarketPrice, Product
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _staff(role, email):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(email=email, password="pw-12345678", is_staff=True)
    grants = apps.get_app_config("catalog").role_grants.get(role, []) + apps.get_app_config(
        "inventory"
    ).role_grants.get(role, [])
    for perm in grants:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def test_every_granted_permission_exists():
    for label in ("catalog", "inventory"):
        for role, perms in apps.get_app_config(label).role_grants.items():
            for perm in perms:
                app_label, codename = perm.split(".")
                assert Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).exists(), (
                    role,
                    perm,
                )


def test_marketing_manager_edits_only_promotion_flags_and_sale_prices():
    user = _staff("marketing_manager", "mm@example.com")
    request = RequestFactory().get("/admin/")
    request.user = user
    product = ProductFactory(kr=1000)
    product_admin = site._registry[Product]
    readonly = set(product_admin.get_readonly_fields(request, product))
    assert {"rocket_delivery", "is_featured"}.isdisjoint(readonly)
    assert {"name_ko", "name_en", "category", "max_per_order", "is_active"} <= readonly
    price_admin = site._registry[MarketPrice]
    assert set(price_admin.get_readonly_fields(request, None)) == {"sku", "market", "currency", "list_price"}


def test_ops_admin_edits_everything():
    user = _staff("ops_admin", "ops@example.com")
    request = RequestFactory().get("/admin/")
    request.user = user
    assert site._registry[Product].get_readonly_fields(request, None) == ("created_at", "updated_at")
    assert site._registry[MarketPrice].get_readonly_fields(request, None) == ()


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        ("marketing_manager", "/admin/catalog/product/{id}/change/", 200),
        ("ops_admin", "/admin/catalog/product/{id}/change/", 200),
        ("cs_agent", "/admin/catalog/product/{id}/change/", 200),  # view only
        ("cs_agent", "/admin/catalog/marketprice/", 403),
        ("inventory_manager", "/admin/inventory/stocklevel/", 200),
        ("marketing_manager", "/admin/inventory/stocklevel/", 403),
    ],
)
def test_admin_pages_by_role(client, role, url, status):
    product = ProductFactory(kr=1000)
    client.force_login(_staff(role, f"{role}@example.com"))
    assert client.get(url.format(id=product.pk)).status_code == status


def test_product_admin_shows_both_languages_and_no_cdn_assets(admin_client):
    product = ProductFactory(kr=1000, name_ko="생수", name_en="Water")
    html = admin_client.get(f"/admin/catalog/product/{product.pk}/change/").content.decode()
    assert 'name="name_ko"' in html and 'name="name_en"' in html
    assert 'name="skus-0-code"' in html
    assert "code.jquery.com" not in html
