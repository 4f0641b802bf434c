"""The member check as SQL, to be joined to the query that loads a user."""

from __future__ import annotations

from django.contrib.auth.models import Permission
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
