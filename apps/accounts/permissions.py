"""DRF permission classes that check Django permissions (granted through role groups).

Guests get ``401 auth.login_required`` (DRF raises NotAuthenticated when no
authenticator succeeded), signed-in callers without the permission ``403
auth.permission_denied``. Usage::

    permission_classes = [HasPerm("inventory.view_stocklevel")]
    permission_classes = [IsMember]
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission


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


#: A member who may shop: cart, orders, coupons, wallet (role ``member``).
IsMember = HasPerm("accounts.shop")


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
