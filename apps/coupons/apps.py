from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CouponsConfig(AppConfig):
    name = "apps.coupons"
    label = "coupons"
    verbose_name = _("Coupons")
    #: role (group) -> permissions (ADR 0002). Marketing runs campaigns and revokes coupons;
    #: customer service reads coupon usage; ops everything. Coupons and their usage history
    #: are written by the services only (claim, checkout, revoke).
    role_grants: dict[str, list[str]] = {
        "ops_admin": [
            "coupons.add_campaign",
            "coupons.change_campaign",
            "coupons.view_campaign",
            "coupons.view_coupon",
            "coupons.view_couponuse",
            "coupons.revoke_coupon",
        ],
        "marketing_manager": [
            "coupons.add_campaign",
            "coupons.change_campaign",
            "coupons.view_campaign",
            "coupons.view_coupon",
            "coupons.view_couponuse",
            "coupons.revoke_coupon",
        ],
        "cs_agent": ["coupons.view_campaign", "coupons.view_coupon", "coupons.view_couponuse"],
    }
