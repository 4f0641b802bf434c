"""Staff roles, market scope (audited) and system clients."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm

from apps.accounts import errors, roles
from apps.accounts.models import RoleChange, SystemClient, User
from apps.accounts.selectors import MARKET_SCOPE_PERMISSION
from apps.accounts.services.profiles import email_normalize
from apps.core.errors import PermissionDenied
from apps.markets.models import Market

# --- Roles and market scope (audited) ----------------------------------------------------


def _audit(*, actor: User | None, target: User, kind: str, old: Any, new: Any, reason: str = "") -> None:
    RoleChange.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        target=target,
        kind=kind,
        old_value=str(old if old is not None else ""),
        new_value=str(new if new is not None else ""),
        reason=reason[:200],
    )


@transaction.atomic
def user_roles_set(
    *,
    actor: User | None,
    user: User,
    roles_: Iterable[str] | None = None,
    is_staff: bool | None = None,
    is_superuser: bool | None = None,
    market_scope: str | object | None = ...,
    reason: str = "",
) -> list[RoleChange]:
    """Set a user's roles, staff/superuser flags and market scope; audit each change.

    ``None`` (or ``...`` for ``market_scope``) leaves that part unchanged; a market
    scope of ``""``/``None`` removes the scope (all markets).

    A market-scoped actor must leave a staff ``user`` scoped inside the actor's own
    markets (no lifting their own scope, no unscoped hires).

    Raises: account.unknown_role, account.market_scope_invalid, auth.permission_denied.
    """
    actor_markets = _actor_markets(actor)
    before = RoleChange.objects.filter(target=user).count()
    if roles_ is not None:
        wanted = set(roles_)
        unknown = wanted - set(roles.ROLES)
        if unknown:
            raise errors.UnknownRole(role=", ".join(sorted(unknown)))
        current = set(user.groups.values_list("name", flat=True))
        for name in sorted(wanted - current):
            user.groups.add(Group.objects.get(name=name))
            _audit(
                actor=actor, target=user, kind=RoleChange.Kind.GROUP_ADDED, old="", new=name, reason=reason
            )
        for name in sorted(current - wanted):
            user.groups.remove(Group.objects.get(name=name))
            _audit(
                actor=actor, target=user, kind=RoleChange.Kind.GROUP_REMOVED, old=name, new="", reason=reason
            )
    flags: list[str] = []
    if is_staff is not None and bool(is_staff) != user.is_staff:
        _audit(
            actor=actor,
            target=user,
            kind=RoleChange.Kind.STAFF,
            old=user.is_staff,
            new=bool(is_staff),
            reason=reason,
        )
        user.is_staff = bool(is_staff)
        flags.append("is_staff")
    if is_superuser is not None and bool(is_superuser) != user.is_superuser:
        _audit(
            actor=actor,
            target=user,
            kind=RoleChange.Kind.SUPERUSER,
            old=user.is_superuser,
            new=bool(is_superuser),
            reason=reason,
        )
        user.is_superuser = bool(is_superuser)
        flags.append("is_superuser")
    if flags:
        user.save(update_fields=flags)
    if market_scope is not ...:
        staff_market_scope_set(actor=actor, user=user, market=market_scope or None, reason=reason)  # type: ignore[arg-type]
    _actor_scope_check(actor_markets, user)
    return list(RoleChange.objects.filter(target=user).order_by("pk")[before:])


def _market_scope_codes(user: User) -> set[str]:
    """The user's market scope read afresh: staff_markets() caches on the object and
    ignores a superuser's scope."""
    return set(
        UserObjectPermission.objects.filter(
            user=user,
            content_type=ContentType.objects.get_for_model(Market),
            permission__codename=MARKET_SCOPE_PERMISSION,
        ).values_list("object_pk", flat=True)
    )


def _actor_markets(actor: User | None) -> set[str] | None:
    """The markets a scoped actor works in, before any change; ``None``: unrestricted
    (no actor, i.e. an operator command; a superuser; unscoped staff)."""
    if actor is None or not actor.pk or actor.is_superuser:
        return None
    return _market_scope_codes(actor) or None


def _actor_scope_check(actor_markets: set[str] | None, user: User) -> None:
    """A scoped actor keeps every staff user they touch inside their own markets.

    Expects the caller's transaction (the refusal rolls the change back).
    Raises: auth.permission_denied.
    """
    if actor_markets is None or not user.is_staff:
        return
    scope = _market_scope_codes(user)
    if not scope or not scope <= actor_markets:
        raise PermissionDenied()


@transaction.atomic
def staff_market_scope_set(*, actor: User | None, user: User, market: str | None, reason: str = "") -> None:
    """Limit a staff user to one market (``None``: all markets), via guardian; audited.

    A market-scoped actor may only scope users to their own markets.
    Raises: account.market_scope_invalid, auth.permission_denied.
    """
    actor_markets = _actor_markets(actor)
    ct = ContentType.objects.get_for_model(Market)
    existing = _market_scope_codes(user)
    new = {market.upper()} if market else set()
    if new == existing:
        return
    if new:
        if not user.is_staff:
            raise errors.MarketScopeInvalid()
        try:
            market_obj = Market.objects.get(pk=market.upper())  # type: ignore[union-attr]
        except Market.DoesNotExist as exc:
            raise errors.MarketScopeInvalid() from exc
    UserObjectPermission.objects.filter(
        user=user, content_type=ct, permission__codename=MARKET_SCOPE_PERMISSION
    ).delete()
    if new:
        assign_perm(f"markets.{MARKET_SCOPE_PERMISSION}", user, market_obj)
    if hasattr(user, "_joopang_staff_markets"):
        delattr(user, "_joopang_staff_markets")
    _audit(
        actor=actor,
        target=user,
        kind=RoleChange.Kind.MARKET_SCOPE,
        old=",".join(sorted(existing)) or "*",
        new=",".join(sorted(new)) or "*",
        reason=reason,
    )
    _actor_scope_check(actor_markets, user)


@transaction.atomic
def staff_create_or_update(
    *,
    email: str,
    role: str,
    password: str | None,
    market: str | None = None,
    actor: User | None = None,
    name: str = "",
) -> tuple[User, bool]:
    """Create or update a staff user with exactly one staff role (operators' command).

    Raises: account.unknown_role, account.market_scope_invalid.
    """
    if role not in roles.STAFF_ROLES:
        raise errors.UnknownRole(role=role)
    email = email_normalize(email)
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email=email, password=password, name=name or role)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    user_roles_set(
        actor=actor,
        user=user,
        roles_=[role],
        is_staff=True,
        market_scope=market or None,
        reason="create_staff",
    )
    return user, created


# --- System clients ----------------------------------------------------------------------


@transaction.atomic
def system_client_create(
    *, name: str, role: str = roles.DATA_PLATFORM, actor: User | None = None
) -> tuple[SystemClient, str]:
    """Create a client and its service user; returns (client, secret). The secret is
    stored hashed only: show it once.

    Raises: account.unknown_role.
    """
    if role not in SystemClient.Role.values:
        raise errors.UnknownRole(role=role)
    client_id = "jpc_" + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    user = User.objects.create_user(
        email=f"{client_id}@clients.joopang.invalid",
        password=None,
        name=name,
        is_service_account=True,
        locale="en",
    )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    user_roles_set(actor=actor, user=user, roles_=[role], reason=f"system client {name}")
    client = SystemClient.objects.create(
        name=name, client_id=client_id, secret_hash=make_password(secret), role=role, user=user
    )
    return client, secret


def system_client_secret_set(*, client: SystemClient, secret: str) -> None:
    """Replace a client's secret (ops rotate it; seed_demo pins a known demo secret)."""
    client.secret_hash = make_password(secret)
    client.save(update_fields=["secret_hash"])


@transaction.atomic
def system_client_update(
    *, actor: User | None, client: SystemClient, role: str, is_active: bool
) -> SystemClient:
    """Change a client's role or activation; the service user follows (audited)."""
    if role not in SystemClient.Role.values:
        raise errors.UnknownRole(role=role)
    client.role = role
    client.is_active = is_active
    client.save(update_fields=["role", "is_active"])
    user_roles_set(actor=actor, user=client.user, roles_=[role], reason=f"system client {client.name}")
    if client.user.is_active != is_active:
        _audit(
            actor=actor,
            target=client.user,
            kind=RoleChange.Kind.ACTIVE,
            old=client.user.is_active,
            new=is_active,
        )
        User.objects.filter(pk=client.user_id).update(is_active=is_active)
    return client
