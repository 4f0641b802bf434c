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
    # the currency always follows the market (MarketPriceForm)
    assert site._registry[MarketPrice].get_readonly_fields(request, None) == ("currency",)


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


def _listing(product, market):
    from apps.catalog.models import ProductListing

    return ProductListing.objects.get(product=product, market_id=market)


def test_renaming_a_brand_in_the_admin_reindexes_its_products(client, api_client):
    from tests.catalog.factories import BrandFactory

    brand = BrandFactory(slug="acme", name_ko="에이씨엠이", name_en="Acme")
    product = ProductFactory(kr=1000, brand=brand)
    client.force_login(_staff("ops_admin", "ops@example.com"))
    response = client.post(
        f"/admin/catalog/brand/{brand.pk}/change/",
        {"slug": "acme", "name_ko": "주피터", "name_en": "Jupiter"},
    )
    assert response.status_code == 302
    found = api_client.get("/api/v1/products?q=jupiter").json()["results"]
    assert [r["id"] for r in found] == [product.pk]


def test_deleting_a_price_in_the_admin_refreshes_the_listing(client):
    # given a product priced in both markets
    product = ProductFactory(kr=13855, us=1234)
    price = MarketPrice.objects.get(sku__product=product, market_id="US")
    client.force_login(_staff("ops_admin", "ops@example.com"))
    # when ops deletes the US price
    response = client.post(f"/admin/catalog/marketprice/{price.pk}/delete/", {"post": "yes"})
    # then the US listing falls back to FX from the KR price at once ($10.00)
    assert response.status_code == 302
    assert (_listing(product, "US").price, _listing(product, "US").from_fx) == (1000, True)


def test_bulk_deleting_prices_in_the_admin_refreshes_the_listings(client):
    product = ProductFactory(kr=13855, us=1234)
    price = MarketPrice.objects.get(sku__product=product, market_id="US")
    client.force_login(_staff("ops_admin", "ops@example.com"))
    client.post(
        "/admin/catalog/marketprice/",
        {"action": "delete_selected", "_selected_action": [price.pk], "post": "yes"},
    )
    assert not MarketPrice.objects.filter(pk=price.pk).exists()
    assert _listing(product, "US").from_fx is True


def test_admin_price_currency_is_the_market_currency(client):
    # given a SKU without a US price
    product = ProductFactory(kr=10000, us=None)
    sku = product.skus.get()
    client.force_login(_staff("ops_admin", "ops@example.com"))
    # when ops adds a US price typing the wrong currency
    response = client.post(
        "/admin/catalog/marketprice/add/",
        {"sku": sku.pk, "market": "US", "currency": "KRW", "list_price": 1999},
    )
    # then the price is stored in dollars and the listing uses it
    assert response.status_code == 302
    assert MarketPrice.objects.get(sku=sku, market_id="US").currency == "USD"
    assert (_listing(product, "US").price, _listing(product, "US").currency) == (1999, "USD")


def test_marketing_sale_price_above_list_price_is_a_form_error(client):
    # given a 10,000 won price; marketing cannot see list_price as an input
    product = ProductFactory(kr=10000)
    price = MarketPrice.objects.get(sku__product=product, market_id="KR")
    client.force_login(_staff("marketing_manager", "mm@example.com"))
    # when they type a sale price above the list price
    response = client.post(
        f"/admin/catalog/marketprice/{price.pk}/change/",
        {
            "sale_price": 12000,
            "sale_starts_at_0": "",
            "sale_starts_at_1": "",
            "sale_ends_at_0": "",
            "sale_ends_at_1": "",
        },
    )
    # then the form says so and nothing changed
    assert response.status_code == 200
    assert "sale_price" in response.context["adminform"].form.errors
    price.refresh_from_db()
    assert price.sale_price is None


def test_marketing_sale_price_through_the_admin_moves_the_listing(client):
    product = ProductFactory(kr=10000)
    price = MarketPrice.objects.get(sku__product=product, market_id="KR")
    client.force_login(_staff("marketing_manager", "mm@example.com"))
    response = client.post(
        f"/admin/catalog/marketprice/{price.pk}/change/",
        {
            "sale_price": 7000,
            "sale_starts_at_0": "",
            "sale_starts_at_1": "",
            "sale_ends_at_0": "",
            "sale_ends_at_1": "",
        },
    )
    assert response.status_code == 302
    assert _listing(product, "KR").price == 7000


def test_switching_a_parent_off_in_the_admin_hides_products_under_its_children(client, api_client):
    from tests.catalog.factories import CategoryFactory

    parent = CategoryFactory(slug="fashion", name_ko="패션", name_en="Fashion")
    child = CategoryFactory(slug="shoes", parent=parent)
    product = ProductFactory(kr=1000, category=child)
    client.force_login(_staff("ops_admin", "ops@example.com"))
    response = client.post(
        f"/admin/catalog/category/{parent.pk}/change/",
        {"slug": "fashion", "name_ko": "패션", "name_en": "Fashion", "parent": "", "position": 0},
    )  # "is_active" left out of the form post: unchecked
    assert response.status_code == 302, response.content[:2000]
    assert _listing(product, "KR").is_active is False
    assert product.pk not in [r["id"] for r in api_client.get("/api/v1/products").json()["results"]]
