"""Members: registration, profile, consents, sign-in under the sign-in policy, account deletion."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from guardian.models import UserObjectPermission
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.accounts import crypto, errors, roles
from apps.accounts.auth import axes_client_ip, axes_username, sign_in_refusal
from apps.accounts.models import Consent, RoleChange, User
from apps.accounts.selectors import privacy_modules
from apps.core import clock
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
        labels = dict(Consent.Kind.choices)
        raise errors.ConsentRequired(
            kinds=missing, documents=", ".join(str(labels[kind]) for kind in missing)
        )
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
        user.phone_index = crypto.phone_index(user.phone)
        fields.extend(["phone", "phone_index"])
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


# --- Sign-in -------------------------------------------------------------------------------


def login_authenticate(*, email: str, password: str, request: HttpRequest) -> User:
    """Check a shopper's or staff member's credentials under the sign-in policy.

    ``request`` (the Django request of the attempt) is required: the policy keys on its
    client address. Django's ``authenticate`` runs the policy's gates first (the
    per-address rate limit, then axes' per (email, address) lockout; see
    ``apps.accounts.auth``); an unknown email is hashed like a known one, counts like one
    and locks like one, so no answer tells which emails exist. A success clears the
    pair's failures.

    Raises: auth.invalid_credentials, auth.sign_in_locked (429), request.throttled (429).
    """
    user = authenticate(request, username=(email or "").strip(), password=password)
    refusal = sign_in_refusal(request, email)
    if refusal is not None:
        raise refusal
    if not isinstance(user, User) or user.is_service_account:
        raise errors.InvalidCredentials()
    AxesProxyHandler.reset_attempts(
        username=axes_username(request, {"username": email}), ip_address=axes_client_ip(request)
    )
    return user


# --- Account deletion --------------------------------------------------------------------


@transaction.atomic
def user_delete(*, user: User, actor: User | None = None) -> User:
    """Erase a member's PII and deactivate the account; keep the row.

    Orders, ledgers and other records that must be kept by law keep pointing at the
    (now anonymous) user row, and so do consents (evidence of what was agreed) and the
    role-change audit. Refresh tokens are revoked; roles and market scope removed; the
    admin history no longer names the user. Apps holding more personal data erase it in
    ``apps/<app>/privacy.py::erase(user)``.

    Locks: none. Raises: nothing of its own (the privacy hooks may).
    """
    for module in privacy_modules():
        module.erase(user)
    old_groups = set(user.groups.values_list("name", flat=True))
    user.email = f"deleted-{user.pk}@deleted.joopang.invalid"
    user.name = ""
    user.phone = ""
    user.phone_index = ""
    user.default_address = None
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.deleted_at = clock.now()
    user.save()
    # The admin history keeps str(user), i.e. the email: keep the entries, drop the name.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk)
    ).update(object_repr=str(user))
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
