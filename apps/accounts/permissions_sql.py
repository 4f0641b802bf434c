"""The member check as SQL, to be joined to the query that loads a user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db import router
from django.db.models import Exists, OuterRef, Q

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


#: A user id no account has, marking where the real one goes in the compiled statement.
_SENTINEL = -7_391_004_221
_compiled: dict[str, tuple[str, tuple[Any, ...]]] = {}


def active_user_with_may_shop(user_id: int) -> Any:
    """The active user ``user_id`` with ``_may_shop`` set (``permissions.may_shop``), or
    ``None``: one query. Every API request of a signed-in person runs it, so the ORM
    builds and compiles the statement once per process (with a placeholder id) and each
    call sends it as it is: the same SQL, rows and field conversions as the queryset,
    without its per-call compile cost."""
    from apps.accounts.models import User

    alias = router.db_for_read(User)
    cached = _compiled.get(alias)
    if cached is None:
        query = (
            User.objects.using(alias)
            .filter(pk=_SENTINEL, is_active=True)
            .annotate(_may_shop=may_shop_exists())
        )
        sql, params = query.query.sql_with_params()
        assert sum(1 for p in params if p == _SENTINEL) == 1, "the placeholder id must appear once"
        cached = _compiled[alias] = (sql, tuple(params))
    sql, params = cached
    args = [user_id if p == _SENTINEL and not isinstance(p, bool) else p for p in params]
    user = next(iter(User.objects.raw(sql, args).using(alias)), None)
    if user is not None:
        user._may_shop = bool(user._may_shop)  # type: ignore[attr-defined]  # the annotation
    return user
