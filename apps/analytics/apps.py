from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    """Daily aggregates derived from orders and coupons, and the reports built on them."""

    name = "apps.analytics"
    label = "analytics"
    verbose_name = _("Reports")
    #: The aggregates are derived (``services.aggregates_rebuild``): everyone reads, nobody
    #: writes. Daily sales are operations' figures; coupon usage is marketing's too.
    role_grants: dict[str, list[str]] = {
        "ops_admin": ["analytics.view_dailysales", "analytics.view_couponusagedaily"],
        "marketing_manager": ["analytics.view_couponusagedaily"],
    }
