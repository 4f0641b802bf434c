"""The member check as SQL, to be joined to the query that loads a user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef, Q

from apps.core.compiled import Compiled

SHOP = "accounts.shop"


def may_shop_exists() -> Exists:
    """``EXISTS``: the user (``OuterRef("pk")``) has ``accounts.shop`` through a group (the
    member role) or directly. Annotated as ``_may_shop``, ``permissions.may_shop`` reads it."""
    app_label, codename = SHOP.split(".")
    return Exists(
        Permission.objects.filter(content_type__app_label=app_label, codename=codename).filter(
            Q(group__user=OuterRef("pk")) | Q(user=OuterRef("pk"))
        )
    )


def _active_user_qs(p: Any) -> Any:
    from apps.accounts.models import User

    return User.objects.filter(pk=p.user_id, is_active=True).annotate(_may_shop=may_shop_exists())[:1]


_ACTIVE_USER: Compiled[Any] = Compiled("accounts.User", _active_user_qs)


def active_user_with_may_shop(user_id: int) -> Any:
    """The active user ``user_id`` with ``_may_shop`` set (``permissions.may_shop``), or
    ``None``: one query. Every API request of a signed-in person runs it, so the statement
    is compiled once per process (``apps.core.compiled``): the same SQL, rows and field
    conversions as the queryset, without its per-call build and compile cost."""
    user = _ACTIVE_USER.first(user_id=user_id)
    if user is not None:
        user._may_shop = bool(user._may_shop)  # type: ignore[attr-defined]  # the annotation
    return user
