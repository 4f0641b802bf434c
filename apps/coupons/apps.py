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

    def ready(self) -> None:
        # The catalog's coupon badges read a per-process copy of the running campaigns'
        # reach (``selectors.SCOPES_LOCAL_SECONDS``); a change saved here drops it at once.
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from apps.catalog.models import Category
        from apps.coupons.models import Campaign
        from apps.coupons.selectors import campaign_scopes_forget

        for model in (Campaign, Category):
            post_save.connect(
                campaign_scopes_forget, sender=model, dispatch_uid=f"scopes-{model.__name__}-save"
            )
            post_delete.connect(
                campaign_scopes_forget, sender=model, dispatch_uid=f"scopes-{model.__name__}-del"
            )
        for name in ("markets", "categories", "products", "excluded_products"):
            through = getattr(Campaign, name).through
            m2m_changed.connect(campaign_scopes_forget, sender=through, dispatch_uid=f"scopes-{name}")
