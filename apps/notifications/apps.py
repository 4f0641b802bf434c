from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = _("Notifications")
    #: Deliveries are an operations log: ops may read it; nobody edits it.
    role_grants: dict[str, list[str]] = {"ops_admin": ["notifications.view_notificationdelivery"]}
