from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    """The outbox relay to the external data platform, its sinks and the data-platform API."""

    name = "apps.integrations"
    label = "integrations"
    verbose_name = _("Integrations")
    #: Delivery attempts are an operations log: ops may read it; nobody edits it.
    role_grants: dict[str, list[str]] = {"ops_admin": ["integrations.view_deliveryattempt"]}
