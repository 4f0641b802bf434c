from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "apps.inventory"
    label = "inventory"
    verbose_name = _("Inventory")
    #: role (group) -> permissions; the accounts app syncs its groups from these.
    #: The ledger (stockmovement) and reservations are read-only for every role: rows are
    #: written by the services only, never added, changed or deleted by hand. Adjusting
    #: stock (API and admin) needs ``change_stocklevel``; reading the audit
    #: ``view_stockmovement``.
    role_grants: dict[str, list[str]] = {
        "ops_admin": [
            *(
                f"inventory.{action}_{model}"
                for model in ("warehouse", "stocklevel")
                for action in ("add", "change", "delete", "view")
            ),
            "inventory.view_stockmovement",
            "inventory.view_reservation",
        ],
        "inventory_manager": [
            "inventory.view_stocklevel",
            "inventory.change_stocklevel",
            "inventory.view_warehouse",
            "inventory.view_stockmovement",
            "inventory.view_reservation",
        ],
    }
