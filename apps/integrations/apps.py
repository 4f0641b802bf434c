from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    """The outbox relay to the external data platform, its sinks and the data-platform API."""

    name = "apps.integrations"
    label = "integrations"
    verbose_name = _("Integrations")
    #: Delivery attempts are an operations log: ops may read it; nobody edits it. Outbox
    #: events (core's table, shown by this app): ``view`` reads them (the data platform's
    #: pull feed, the stats, the ops page), ``change`` is the one change anyone makes to
    #: them, putting them back in the relay's queue (redelivery). The data platform has
    #: nothing else, so its token opens no other endpoint (tests/integrations/test_api_rbac.py).
    role_grants: dict[str, list[str]] = {
        "ops_admin": [
            "integrations.view_deliveryattempt",
            "core.view_outboxevent",
            "core.change_outboxevent",
        ],
        "data_platform": ["core.view_outboxevent", "core.change_outboxevent"],
    }

    def ready(self) -> None:
        # Wake the relay after each commit that published events (core cannot import us).
        from apps.core.outbox import outbox_commit_hook_register
        from apps.integrations.tasks import relay_wake

        outbox_commit_hook_register(relay_wake)
