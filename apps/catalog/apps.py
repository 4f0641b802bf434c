from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

_MODELS = ("category", "brand", "product", "sku", "marketprice", "productlisting", "productsalesdaily")


class CatalogConfig(AppConfig):
    name = "apps.catalog"
    label = "catalog"
    verbose_name = _("Catalog")
    #: role (group) -> permissions; the accounts app syncs its groups from these.
    role_grants: dict[str, list[str]] = {
        "ops_admin": [
            f"catalog.{action}_{model}" for model in _MODELS for action in ("add", "change", "delete", "view")
        ],
        "marketing_manager": [
            "catalog.view_product",
            "catalog.change_product",
            "catalog.view_sku",
            "catalog.view_marketprice",
            "catalog.change_marketprice",
            "catalog.view_category",
            "catalog.view_brand",
        ],
        "inventory_manager": ["catalog.view_product", "catalog.view_sku"],
        "cs_agent": ["catalog.view_product"],
    }
