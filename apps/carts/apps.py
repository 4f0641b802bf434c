from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CartsConfig(AppConfig):
    name = "apps.carts"
    label = "carts"
    verbose_name = _("Carts")
    #: No role grants: carts are used by guests and members (``accounts.shop``) through the
    #: storefront and the API, never edited by staff.
    role_grants: dict[str, list[str]] = {}
