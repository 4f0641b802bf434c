"""Reads for accounts: market scope of staff, roles, consents, the member's data export."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.apps import apps as global_apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from guardian.models import UserObjectPermission

from apps.accounts.models import Consent, User
from apps.accounts.permissions_sql import active_user_with_may_shop
from apps.markets.models import Market

#: The guardian object permission that limits a staff user to a market: a staff user
#: with this permission on one or more Market rows works only in those markets.
MARKET_SCOPE_PERMISSION = "view_market"
_CACHE_ATTR = "_joopang_staff_markets"


def staff_markets(user: Any) -> set[str] | None:
    """The markets a staff user may work in: ``None`` means all of them.

    Superusers and staff without a market scope see every market; a scoped user (object
    permission ``markets.view_market`` on Market rows, granted through
    ``services.staff_market_scope_set``) sees only those. Anonymous users see none.
    Cached on the user object for the request.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    if getattr(user, "is_superuser", False):
        return None
    if hasattr(user, _CACHE_ATTR):
        cached: set[str] | None = getattr(user, _CACHE_ATTR)
        return cached
    codes = set(
        UserObjectPermission.objects.filter(
            user_id=user.pk,
            permission__codename=MARKET_SCOPE_PERMISSION,
            content_type=ContentType.objects.get_for_model(Market),
        ).values_list("object_pk", flat=True)
    )
    result = codes or None
    setattr(user, _CACHE_ATTR, result)
    return result


def market_scoped(queryset: QuerySet, user: Any, *, field: str = "market") -> QuerySet:
    """Filter ``queryset`` to the staff user's markets (``field`` is a lookup path to the
    market code, e.g. ``"market"`` or ``"order__market"``). Use in admin ``get_queryset``
    and staff API querysets."""
    markets = staff_markets(user)
    if markets is None:
        return queryset
    return queryset.filter(**{f"{field}__in": sorted(markets)})


def shopper_get(*, user_id: int) -> User | None:
    """The active account ``user_id`` if it may shop (``accounts.shop``, the member role or
    given directly), in one query; ``None`` otherwise. For views that authenticated a
    :class:`~apps.accounts.authentication.TokenPrincipal` and now need the real account.
    The answer is kept on the user like ``permissions.may_shop`` keeps it."""
    user: User | None = active_user_with_may_shop(user_id)
    if user is None or not (user._may_shop or user.is_superuser):  # type: ignore[attr-defined]
        return None
    return user


def user_roles(user: User) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def consents_current(user: User) -> dict[str, dict[str, Any]]:
    """The newest decision per consent kind: kind -> {granted, document_version, at}."""
    current: dict[str, dict[str, Any]] = {}
    for consent in Consent.objects.filter(user=user).order_by("kind", "-created_at", "-pk"):
        current.setdefault(
            consent.kind,
            {
                "granted": consent.granted,
                "document_version": consent.document_version,
                "at": consent.created_at,
            },
        )
    return current


def consents_for_display(user: User) -> list[dict[str, Any]]:
    """The current consents with their localized labels, for the profile page."""
    labels = dict(Consent.Kind.choices)
    return [
        {"kind": kind, "label": labels.get(kind, kind), **state}
        for kind, state in consents_current(user).items()
    ]


def _privacy_modules() -> list[Any]:
    modules = []
    for config in global_apps.get_app_configs():
        name = f"{config.name}.privacy"
        if config.name.startswith("apps.") and importlib.util.find_spec(name) is not None:
            modules.append(importlib.import_module(name))
    return modules


def member_export(user: User) -> dict[str, Any]:
    """Everything we hold about a member, as JSON-ready data (GDPR/PIPA access request).

    Other apps add their sections by providing ``apps/<app>/privacy.py`` with
    ``export(user) -> dict`` (e.g. orders, wallet); each becomes ``data[<app label>]``.
    """
    address = dict(user.default_address) if user.default_address else None
    data: dict[str, Any] = {
        "profile": {
            "id": user.pk,
            "email": user.email,
            "name": user.name,
            "locale": user.locale,
            "market": user.market_id,
            "phone": str(user.phone or ""),
            "default_address": address,
            "date_joined": user.date_joined.isoformat(),
            "last_login": user.last_login.isoformat() if user.last_login else None,
        },
        "roles": user_roles(user),
        "consents": [
            {
                "kind": c.kind,
                "document_version": c.document_version,
                "granted": c.granted,
                "at": c.created_at.isoformat(),
                "source": c.source,
            }
            for c in Consent.objects.filter(user=user).order_by("created_at", "pk")
        ],
    }
    for module in _privacy_modules():
        export = getattr(module, "export", None)
        if export is not None:
            label = module.__name__.split(".")[1]
            data[label] = export(user)
    return data


def privacy_modules() -> list[Any]:
    """Modules with ``erase(user)`` hooks, run by ``services.user_delete``."""
    return [m for m in _privacy_modules() if hasattr(m, "erase")]
