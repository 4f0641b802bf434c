"""Roles are Django groups; their permission sets are declared by each app.

The contract (ADR 0002, docs/adr/0002-roles-and-permissions.md)
------------------------------------------------------------------
* The role groups are created by the data migration ``accounts/0003_roles``:
  ``member``, ``cs_agent``, ``inventory_manager``, ``marketing_manager``, ``ops_admin``,
  ``data_platform``.
* Every app declares what its models grant to each role, on its ``AppConfig``, without
  importing accounts::

      class CatalogConfig(AppConfig):
          role_grants = {
              "ops_admin": ["catalog.add_product", "catalog.change_product", ...],
              "marketing_manager": ["catalog.view_product", "catalog.change_product"],
          }

  Keys are role names, values lists of ``"app_label.codename"`` (permissions Django
  creates from models, or ``Meta.permissions``).
* :func:`roles_sync` gives each role group **exactly** the union of the grants of all
  installed app configs: a permission added by hand in the admin is removed at the next
  sync, so code review is where permissions change. It runs after every ``migrate``
  (post_migrate, also after a test database flush) and as ``manage.py sync_roles``.
* A declared permission that does not exist (typo, model removed) is an error, so it is
  caught in CI rather than silently granting nothing.
* ``ops_admin`` members are also made no superusers by this: superuser is a separate flag
  that only superusers may grant (see the user admin).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

MEMBER = "member"
CS_AGENT = "cs_agent"
INVENTORY_MANAGER = "inventory_manager"
MARKETING_MANAGER = "marketing_manager"
OPS_ADMIN = "ops_admin"
DATA_PLATFORM = "data_platform"

ROLES: tuple[str, ...] = (MEMBER, CS_AGENT, INVENTORY_MANAGER, MARKETING_MANAGER, OPS_ADMIN, DATA_PLATFORM)
#: Roles that work in the admin back office (``is_staff``).
STAFF_ROLES: tuple[str, ...] = (CS_AGENT, INVENTORY_MANAGER, MARKETING_MANAGER, OPS_ADMIN)

#: What staff read instead of the role codes (the codes stay the group names).
ROLE_LABELS: dict[str, Promise] = {
    MEMBER: gettext_lazy("Member"),
    CS_AGENT: gettext_lazy("CS agent"),
    INVENTORY_MANAGER: gettext_lazy("Inventory manager"),
    MARKETING_MANAGER: gettext_lazy("Marketing manager"),
    OPS_ADMIN: gettext_lazy("Operations admin"),
    DATA_PLATFORM: gettext_lazy("Data platform (system)"),
}


def role_label(code: str) -> str:
    """The localized name of a role code; an unknown group keeps its name."""
    label = ROLE_LABELS.get(code)
    return str(label) if label is not None else code


def _crud(app_label: str, model: str, *actions: str) -> list[str]:
    return [f"{app_label}.{action}_{model}" for action in (actions or ("view", "add", "change", "delete"))]


#: What accounts (and the project-level apps it speaks for: auth, markets, the token
#: blacklist, Celery beat/results) grant. Read through AccountsConfig.role_grants.
ACCOUNTS_ROLE_GRANTS: dict[str, list[str]] = {
    MEMBER: ["accounts.shop"],
    CS_AGENT: [
        "accounts.view_user",
        "accounts.view_consent",
        "markets.view_market",
    ],
    INVENTORY_MANAGER: ["markets.view_market"],
    MARKETING_MANAGER: ["markets.view_market"],
    OPS_ADMIN: [
        *_crud("accounts", "user"),
        "accounts.manage_roles",
        "accounts.view_consent",
        "accounts.view_rolechange",
        *_crud("accounts", "systemclient"),
        "auth.view_group",
        "markets.view_market",
        "markets.change_market",
        *_crud("markets", "fxrate"),
        "token_blacklist.view_outstandingtoken",
        "token_blacklist.change_outstandingtoken",
        *_crud("token_blacklist", "blacklistedtoken"),
        *_crud("django_celery_beat", "periodictask"),
        *_crud("django_celery_beat", "intervalschedule"),
        *_crud("django_celery_beat", "crontabschedule"),
        *_crud("django_celery_beat", "clockedschedule"),
        *_crud("django_celery_beat", "solarschedule"),
        "django_celery_results.view_taskresult",
        "django_celery_results.view_groupresult",
    ],
    DATA_PLATFORM: [],
}


class RoleGrantError(Exception):
    """A role_grants declaration names an unknown role or permission."""


def declared_grants(app_configs: list[AppConfig] | None = None) -> dict[str, set[str]]:
    """Union of ``role_grants`` over the installed app configs: role -> {"app.codename"}."""
    grants: dict[str, set[str]] = defaultdict(set)
    for config in app_configs if app_configs is not None else global_apps.get_app_configs():
        declared: dict[str, list[str]] = getattr(config, "role_grants", None) or {}
        for role, perms in declared.items():
            if role not in ROLES:
                raise RoleGrantError(f"{config.label}.role_grants names unknown role {role!r}")
            grants[role].update(perms)
    return {role: grants.get(role, set()) for role in ROLES}


def _permission_ids(names: set[str]) -> dict[str, int]:
    wanted = {tuple(name.split(".", 1)) for name in names}
    found: dict[str, int] = {}
    for pk, app_label, codename in Permission.objects.filter(
        codename__in={codename for _, codename in wanted}
    ).values_list("pk", "content_type__app_label", "codename"):
        if (app_label, codename) in wanted:
            found[f"{app_label}.{codename}"] = pk
    return found


@transaction.atomic
def roles_sync(*, strict: bool = True) -> dict[str, int]:
    """Create missing role groups and give each exactly its declared permissions.

    Returns role -> number of permissions. ``strict``: an undeclared permission raises
    ``RoleGrantError`` (otherwise it is skipped).
    """
    grants = declared_grants()
    all_names = set().union(*grants.values())
    ids = _permission_ids(all_names)
    missing = sorted(all_names - ids.keys())
    if missing and strict:
        raise RoleGrantError("role_grants name permissions that do not exist: " + ", ".join(missing))
    counts: dict[str, int] = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        perm_ids = sorted(ids[name] for name in grants[role] if name in ids)
        group.permissions.set(perm_ids)
        counts[role] = len(perm_ids)
    return counts


def sync_after_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver (connected for the accounts app config only).

    Permissions of every app are created first (Django does it per app, later apps after
    this one), then the groups are synced. Unknown permissions are skipped here rather
    than breaking ``migrate``; ``manage.py sync_roles`` and the tests are strict.
    """
    for config in global_apps.get_app_configs():
        if config.models_module is not None:
            create_permissions(config, verbosity=0, interactive=False, using=using, apps=global_apps)
    roles_sync(strict=False)
