"""Token grants of POST /api/v1/auth/token (RFC 6749): password, refresh_token, client_credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.accounts import errors, tokens
from apps.accounts.models import SystemClient, User
from apps.accounts.services.profiles import login_authenticate
from apps.core import clock

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


def _pair_for(user: User, *, family: str | None = None) -> TokenResponse:
    refresh = tokens.refresh_token_for(user, family=family)
    access = tokens.access_token_for(user)
    return TokenResponse(
        access_token=str(access),
        refresh_token=str(refresh),
        expires_in=tokens.access_lifetime_seconds(),
        scope=" ".join(access["roles"]),
    )


def token_password_grant(*, username: str, password: str, request: HttpRequest) -> TokenResponse:
    """Sign in with email and password (``request``: the Django request of the attempt,
    whose client address the sign-in policy keys on). Starts a refresh-token family.

    Raises: OAuthError invalid_grant (wrong credentials: 400; an (email, address) pair
    locked by the sign-in policy: 429 with ``Retry-After``, code auth.sign_in_locked),
    request.throttled (the per-address sign-in rate; answered as problem+json).
    """
    try:
        user = login_authenticate(email=username, password=password, request=request)
    except errors.SignInLocked as exc:
        raise OAuthError(
            "invalid_grant", exc.detail, status=exc.http_status, code=exc.code, headers=exc.headers
        ) from exc
    except errors.InvalidCredentials as exc:
        raise OAuthError("invalid_grant", exc.detail, code=exc.code) from exc
    return _pair_for(user)


def token_family_revoke(*, family: str | None, user_id: Any) -> int:
    """Blacklist every outstanding refresh token of ``user_id`` in ``family`` (all of the
    user's outstanding refresh tokens when the replayed token predates families).

    Returns how many were revoked. Locks: none (blacklisting is idempotent per token).
    """
    count = 0
    outstanding = OutstandingToken.objects.filter(
        user_id=user_id, blacklistedtoken__isnull=True, expires_at__gt=clock.now()
    )
    for row in outstanding:
        if family is None or tokens.token_family(row.token) == family:
            _blacklisted, created = BlacklistedToken.objects.get_or_create(token=row)
            count += int(created)
    return count


def token_refresh_grant(*, refresh_token: str) -> TokenResponse:
    """Rotate a refresh token: the presented one is blacklisted, a new pair issued in the
    same family.

    The blacklist row is unique per token, so of two concurrent uses of one refresh
    token exactly one succeeds. A token that was already rotated or revoked is a replay:
    every outstanding token of its family is revoked too (the legitimate holder signs in
    again; the thief's copy is dead). An expired or forged token is just invalid.
    Raises: OAuthError invalid_grant.
    """
    invalid = OAuthError(
        "invalid_grant", _("The refresh token is invalid, expired, revoked or already used.")
    )
    try:
        payload = tokens.refresh_payload_verify(refresh_token)
    except tokens.TokenError as exc:
        raise invalid from exc
    family = payload.get(tokens.FAMILY_CLAIM)
    family = family if isinstance(family, str) else None
    user_id = payload.get("user_id")
    if not isinstance(user_id, (int, str)):
        raise invalid
    user = User.objects.filter(pk=user_id, is_active=True, is_service_account=False).first()
    outstanding = OutstandingToken.objects.filter(jti=payload.get("jti")).first()
    if user is None or outstanding is None:
        raise invalid
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)  # unique per token: a replay fails here
            return _pair_for(user, family=family)
    except IntegrityError as exc:
        token_family_revoke(family=family, user_id=user.pk)
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
