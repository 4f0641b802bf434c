"""RBAC expectations for the catalog and inventory routes this issue adds, and their admin
models. Catalog browsing and the availability check are open to every caller, guests
included; a system client's token is refused on the catalog (it opens only the data
platform's API) and ignored by the availability check, which reads no credentials.
Format: see tests/accounts/test_rbac.py."""

from __future__ import annotations

from tests.accounts.rbac_table import EVERYONE, OPS, PUBLIC, allow

API_ROUTES: dict[tuple[str, str], dict[str, bool]] = {
    ("GET", "/api/v1/categories"): PUBLIC,
    ("GET", "/api/v1/products"): PUBLIC,
    ("GET", "/api/v1/products/popular"): PUBLIC,
    ("GET", "/api/v1/products/<int:product_id>"): PUBLIC,
    # Authenticates nobody (authentication_classes = [], for its P95): any token, the data
    # platform's too, is ignored and the caller answered as a guest (public stock figures).
    ("GET", "/api/v1/inventory/availability"): EVERYONE,
}

API_SAMPLE_PATHS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/inventory/availability"): "/api/v1/inventory/availability?sku=SAMPLE-1",
}

ADMIN_MODELS: dict[str, dict[str, bool]] = {
    "catalog.category": allow("marketing_manager", "ops_admin"),
    "catalog.brand": allow("marketing_manager", "ops_admin"),
    "catalog.product": allow("cs_agent", "inventory_manager", "marketing_manager", "ops_admin"),
    "catalog.sku": allow("inventory_manager", "marketing_manager", "ops_admin"),
    "catalog.marketprice": allow("marketing_manager", "ops_admin"),
    "catalog.productsalesdaily": OPS,
    "inventory.warehouse": allow("inventory_manager", "ops_admin"),
    "inventory.stocklevel": allow("inventory_manager", "ops_admin"),
}
