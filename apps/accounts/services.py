"""Account use-cases: registration, profile, login with lockout, consents, deletion,
roles and market scope (audited), system clients, and token grants."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.accounts import errors, roles, tokens
from apps.accounts.models import Consent, RoleChange, SystemClient, User
from apps.accounts.selectors import MARKET_SCOPE_PERMISSION, privacy_modules
from apps.core import clock
from apps.markets.models import Market
from apps.markets.selectors import market_get

# --- Registration and profile ------------------------------------------------------------


def consent_versions() -> dict[str, str]:
    return {
        Consent.Kind.TERMS: settings.CONSENT_TERMS_VERSION,
        Consent.Kind.PRIVACY: settings.CONSENT_PRIVACY_VERSION,
        Consent.Kind.MARKETING: settings.CONSENT_MARKETING_VERSION,
        Consent.Kind.CROSS_BORDER_TRANSFER: settings.CONSENT_CROSS_BORDER_VERSION,
    }


def required_consents(market_code: str) -> list[str]:
    """Terms and privacy for everyone; KR members also consent to the cross-border
    transfer of their personal data (PIPA art. 28-8)."""
    kinds = [Consent.Kind.TERMS.value, Consent.Kind.PRIVACY.value]
    if market_code == "KR":
        kinds.append(Consent.Kind.CROSS_BORDER_TRANSFER.value)
    return kinds


def password_check(password: str, *, user: User | None = None) -> None:
    """Django's password validators, messages in the active language.

    Raises: account.password_weak (with ``errors`` listing each reason).
    """
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        messages = list(exc.messages)
        codes = [getattr(e, "code", None) or "invalid" for e in exc.error_list]
        err = errors.PasswordWeak(reasons=" ".join(messages))
        err.params["errors"] = [
            {"field": "password", "code": code, "message": message}
            for code, message in zip(codes, messages, strict=True)
        ]
        raise err from exc


def email_normalize(email: str) -> str:
    return User.objects.normalize_email((email or "").strip())


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    name: str = "",
    market: str = "",
    locale: str = "",
    consents: Iterable[str] = (),
    source: str = "web",
) -> User:
    """Create a member: the ``member`` role, consents recorded with document versions.

    Raises: account.email_taken, account.password_weak, account.consent_required,
    market.unknown.
    """
    email = email_normalize(email)
    market_obj = market_get(market or settings.DEFAULT_MARKET)
    locale = locale if locale in {"ko", "en"} else market_obj.default_locale
    granted = set(consents)
    missing = [kind for kind in required_consents(market_obj.code) if kind not in granted]
    if missing:
        raise errors.ConsentRequired(kinds=", ".join(missing))
    if User.objects.filter(email__iexact=email).exists():
        raise errors.EmailTaken()
    candidate = User(email=email, name=name)
    password_check(password, user=candidate)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, name=name, market_id=market_obj.code, locale=locale
            )
    except IntegrityError as exc:  # a concurrent sign-up with the same email
        raise errors.EmailTaken() from exc
    user.groups.add(Group.objects.get(name=roles.MEMBER))
    versions = consent_versions()
    now = clock.now()
    Consent.objects.bulk_create(
        [
            Consent(
                user=user,
                kind=kind,
                document_version=versions[kind],
                granted=kind in granted,
                created_at=now,
                source=source,
            )
            for kind in (*required_consents(market_obj.code), Consent.Kind.MARKETING.value)
        ]
    )
    return user


ADDRESS_KEYS = ("recipient", "line1", "line2", "city", "region", "postal_code", "country")


def address_clean(address: dict[str, Any] | None) -> dict[str, str] | None:
    if not address:
        return None
    cleaned = {key: str(address.get(key) or "").strip() for key in ADDRESS_KEYS}
    return cleaned if any(cleaned.values()) else None


@transaction.atomic
def user_profile_update(*, user: User, **changes: Any) -> User:
    """Change a user's own profile: ``name, locale, market, phone, default_address``.

    Raises: market.unknown.
    """
    allowed = {"name", "locale", "market", "phone", "default_address"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    fields: list[str] = []
    if "name" in changes:
        user.name = (changes["name"] or "").strip()
        fields.append("name")
    if "locale" in changes and changes["locale"] in {"ko", "en"}:
        user.locale = changes["locale"]
        fields.append("locale")
    if changes.get("market"):
        user.market_id = market_get(changes["market"]).code
        fields.append("market")
    if "phone" in changes:
        user.phone = (changes["phone"] or "").strip()
        fields.append("phone")
    if "default_address" in changes:
        user.default_address = address_clean(changes["default_address"])
        fields.append("default_address")
    if fields:
        user.save(update_fields=fields)
    return user


def user_preferences_set(*, user: Any, locale: str | None = None, market: str | None = None) -> None:
    """The header switcher of a signed-in shopper: the profile follows the choice."""
    if user is None or not getattr(user, "is_authenticated", False):
        return
    changes: dict[str, Any] = {}
    if locale in {"ko", "en"}:
        changes["locale"] = locale
    if market:
        changes["market"] = market
    if changes:
        user_profile_update(user=user, **changes)


def consent_record(*, user: User, kind: str, granted: bool, source: str = "web") -> Consent:
    """Append a consent decision (grant or withdrawal) with the current document version."""
    if kind not in Consent.Kind.values:
        raise ValueError(f"unknown consent kind {kind!r}")
    return Consent.objects.create(
        user=user, kind=kind, granted=granted, document_version=consent_versions()[kind], source=source
    )


# --- Login and lockout -------------------------------------------------------------------


def _locked_minutes(locked_until: Any) -> int:
    return max(1, math.ceil((locked_until - clock.now()).total_seconds() / 60))


def login_authenticate(*, email: str, password: str, request: Any = None) -> User:
    """Check a shopper's or staff member's credentials, with the lockout.

    After ``AUTH_LOCKOUT_THRESHOLD`` failures in a row the account is locked for
    ``AUTH_LOCKOUT_MINUTES``; a success resets the count. The counters move with
    conditional UPDATEs, so concurrent attempts in several processes count exactly.

    Raises: auth.invalid_credentials, auth.account_locked.
    """
    email = (email or "").strip()
    known = User.objects.filter(email__iexact=email, is_service_account=False).first()
    if known is not None and known.locked_until and known.locked_until > clock.now():
        err = errors.AccountLocked(minutes=_locked_minutes(known.locked_until))
        err.headers["Retry-After"] = str(max(1, int((known.locked_until - clock.now()).total_seconds())))
        raise err
    user = authenticate(request, username=email, password=password) if known is not None else None
    if user is None or user.is_service_account:
        if known is not None:
            locked_until = _login_failure_count(known)
            if locked_until is not None:
                err = errors.AccountLocked(minutes=_locked_minutes(locked_until))
                err.headers["Retry-After"] = str(settings.AUTH_LOCKOUT_MINUTES * 60)
                raise err
        raise errors.InvalidCredentials()
    if user.failed_login_count or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_login_count=0, locked_until=None)
        user.failed_login_count, user.locked_until = 0, None
    return user


def _login_failure_count(user: User) -> Any:
    """Count one failure; lock the account when the threshold is reached.

    Returns the lock's end when this failure locked the account, else ``None``.
    """
    threshold = settings.AUTH_LOCKOUT_THRESHOLD
    if threshold <= 0:
        return None
    locked_until = clock.now() + timedelta(minutes=settings.AUTH_LOCKOUT_MINUTES)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_login_count=F("failed_login_count") + 1)
        locked = User.objects.filter(pk=user.pk, failed_login_count__gte=threshold).update(
            failed_login_count=0, locked_until=locked_until
        )
    return locked_until if locked else None


# --- Account deletion --------------------------------------------------------------------


@transaction.atomic
def user_delete(*, user: User, actor: User | None = None) -> User:
    """Erase a member's PII and deactivate the account; keep the row.

    Orders, ledgers and other records that must be kept by law keep pointing at the
    (now anonymous) user row. Refresh tokens are revoked; roles and market scope removed.
    Apps holding more personal data erase it in ``apps/<app>/privacy.py::erase(user)``.
    """
    for module in privacy_modules():
        module.erase(user)
    old_groups = set(user.groups.values_list("name", flat=True))
    user.email = f"deleted-{user.pk}@deleted.joopang.invalid"
    user.name = ""
    user.phone = ""
    user.default_address = None
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.deleted_at = clock.now()
    user.save()
    user.groups.clear()
    UserObjectPermission.objects.filter(user=user).delete()
    tokens_revoke_all(user=user)
    for name in sorted(old_groups):
        RoleChange.objects.create(
            actor=actor or user,
            target=user,
            kind=RoleChange.Kind.GROUP_REMOVED,
            old_value=name,
            reason="account deleted",
        )
    RoleChange.objects.create(
        actor=actor or user,
        target=user,
        kind=RoleChange.Kind.ACTIVE,
        old_value="True",
        new_value="False",
        reason="account deleted",
    )
    return user


def tokens_revoke_all(*, user: User) -> int:
    """Blacklist every outstanding refresh token of ``user``; returns how many."""
    count = 0
    for outstanding in OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True):
        BlacklistedToken.objects.get_or_create(token=outstanding)
        count += 1
    return count


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

    Raises: account.unknown_role, account.market_scope_invalid.
    """
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
    return list(RoleChange.objects.filter(target=user).order_by("pk")[before:])


def staff_market_scope_set(*, actor: User | None, user: User, market: str | None, reason: str = "") -> None:
    """Limit a staff user to one market (``None``: all markets), via guardian; audited.

    Raises: account.market_scope_invalid.
    """
    # Read afresh: staff_markets() caches on the object and ignores superusers' scope.
    ct = ContentType.objects.get_for_model(Market)
    existing = set(
        UserObjectPermission.objects.filter(
            user=user, content_type=ct, permission__codename=MARKET_SCOPE_PERMISSION
        ).values_list("object_pk", flat=True)
    )
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


# --- Token grants (POST /api/v1/auth/token) ----------------------------------------------


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``{"error", "error_description"}``."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    token_type: str = "Bearer"

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


def _pair_for(user: User) -> TokenResponse:
    refresh = tokens.refresh_token_for(user)
    access = tokens.access_token_for(user)
    return TokenResponse(
        access_token=str(access),
        refresh_token=str(refresh),
        expires_in=tokens.access_lifetime_seconds(),
        scope=" ".join(access["roles"]),
    )


def token_password_grant(*, username: str, password: str, request: Any = None) -> TokenResponse:
    """Raises: OAuthError invalid_grant (wrong credentials, locked account)."""
    try:
        user = login_authenticate(email=username, password=password, request=request)
    except errors.AccountLocked as exc:
        raise OAuthError(
            "invalid_grant", exc.detail, status=exc.http_status, code=exc.code, headers=exc.headers
        ) from exc
    except errors.InvalidCredentials as exc:
        raise OAuthError("invalid_grant", exc.detail, code=exc.code) from exc
    return _pair_for(user)


def token_refresh_grant(*, refresh_token: str) -> TokenResponse:
    """Rotate a refresh token: the presented one is blacklisted, a new pair issued.

    The blacklist row is unique per token, so of two concurrent uses of one refresh
    token exactly one succeeds; a used, revoked or expired token is ``invalid_grant``.
    Raises: OAuthError invalid_grant.
    """
    invalid = OAuthError(
        "invalid_grant", _("The refresh token is invalid, expired, revoked or already used.")
    )
    try:
        old = tokens.RefreshToken(refresh_token)
    except tokens.TokenError as exc:
        raise invalid from exc
    user = User.objects.filter(pk=old.get("user_id"), is_active=True, is_service_account=False).first()
    outstanding = OutstandingToken.objects.filter(jti=old.get("jti")).first()
    if user is None or outstanding is None:
        raise invalid
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
            return _pair_for(user)
    except IntegrityError as exc:
        raise invalid from exc


_DUMMY_HASH: str | None = None


def token_client_credentials_grant(*, client_id: str, client_secret: str) -> TokenResponse:
    """Raises: OAuthError invalid_client (401)."""
    global _DUMMY_HASH  # computed once; equalizes timing for unknown client ids
    client = (
        SystemClient.objects.select_related("user")
        .filter(client_id=client_id or "", is_active=True, user__is_active=True)
        .first()
    )
    if client is None:
        _DUMMY_HASH = _DUMMY_HASH or make_password("dummy")
        check_password(client_secret or "", _DUMMY_HASH)
        raise OAuthError("invalid_client", _("Client authentication failed."), status=401)
    if not check_password(client_secret or "", client.secret_hash):
        raise OAuthError("invalid_client", _("Client authentication failed."), status=401)
    SystemClient.objects.filter(pk=client.pk).update(last_used_at=clock.now())
    lifetime = settings.JWT_CLIENT_TOKEN_SECONDS
    access = tokens.access_token_for(
        client.user, lifetime_seconds=lifetime, extra={"client_id": client.client_id, "roles": [client.role]}
    )
    return TokenResponse(access_token=str(access), expires_in=lifetime, scope=client.role)
