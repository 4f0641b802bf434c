from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MarketsConfig(AppConfig):
    name = "apps.markets"
    label = "markets"
    verbose_name = _("Markets")

    def ready(self) -> None:
        from apps.markets.seed import markets_after_migrate

        # Also runs after a test database flush, so transactional tests never lose KR/US.
        post_migrate.connect(markets_after_migrate, sender=self, dispatch_uid="markets.seed")
