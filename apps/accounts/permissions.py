"""DRF permission classes that check Django permissions (granted through role groups).

Guests get ``401 auth.login_required`` (DRF raises NotAuthenticated when no
authenticator succeeded), signed-in callers without the permission ``403
auth.permission_denied``. Usage::

    permission_classes = [HasPerm("inventory.view_stocklevel")]
    permission_classes = [IsMember]
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Q
from rest_framework.permissions import BasePermission

from apps.accounts.permissions_sql import SHOP
from apps.accounts.principal import TokenPrincipal
from apps.accounts.roles import MEMBER


class _HasPermBase(BasePermission):
    perms: tuple[str, ...] = ()
    any_of: bool = False

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        check = any if self.any_of else all
        return check(user.has_perm(perm) for perm in self.perms)


def HasPerm(*perms: str, any_of: bool = False) -> type[BasePermission]:
    """A permission class requiring all of ``perms`` (or any, with ``any_of=True``),
    each ``"app_label.codename"``."""
    if not perms or not all("." in perm for perm in perms):
        raise ValueError("HasPerm needs 'app_label.codename' permissions")
    name = "HasPerm_" + "_".join(p.replace(".", "_") for p in perms)
    return type(name, (_HasPermBase,), {"perms": tuple(perms), "any_of": any_of})


def may_shop(user: Any) -> bool:
    """``user.has_perm("accounts.shop")`` in one query: the member role (or the permission
    given to the user directly). Django's ModelBackend answers a first ``has_perm`` with two
    queries that load every permission the user has, which a member request never needs
    again; every API request of a member asks this once. Same answers: inactive accounts
    have nothing, an active superuser everything, a cache ``has_perm`` already filled is
    used. The answer is kept on the user object (one request)."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if isinstance(user, TokenPrincipal):
        # A token's roles are what the account had at sign-in (minutes ago at most); a
        # member role there is enough to be answered, and the account is read again
        # before anything is written for it (TokenPrincipal). Anyone else: ask the database.
        if MEMBER in user.roles and not user.is_service_account:
            return True
        from apps.accounts.selectors import shopper_get

        return shopper_get(user_id=user.pk) is not None
    if user.is_superuser:
        return True
    cached = getattr(user, "_perm_cache", None)
    if cached is not None:
        return SHOP in cached
    memo: bool | None = getattr(user, "_may_shop", None)
    if memo is None:
        app_label, codename = SHOP.split(".")
        memo = (
            Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            .filter(Q(group__user=user) | Q(user=user))
            .exists()
        )
        user._may_shop = memo
    return memo


class IsMember(BasePermission):
    """A member who may shop: cart, orders, coupons, wallet (role ``member``,
    ``accounts.shop``); see ``may_shop``."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return may_shop(request.user)


class IsPerson(BasePermission):
    """Any signed-in person (member or staff), not a system client."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and not user.is_service_account)


class IsSystemClient(BasePermission):
    """A system client (client-credentials token)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "is_service_account", False))
