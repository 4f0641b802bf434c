from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    @property
    def role_grants(self) -> dict[str, list[str]]:  # the contract of apps.accounts.roles
        from apps.accounts.roles import ACCOUNTS_ROLE_GRANTS

        return ACCOUNTS_ROLE_GRANTS

    def ready(self) -> None:
        from apps.accounts.roles import sync_after_migrate

        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="accounts.roles_sync")
