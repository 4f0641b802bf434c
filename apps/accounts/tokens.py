"""JWTs for people and system clients (djangorestframework-simplejwt does the crypto).

Access tokens are short-lived (``JWT_ACCESS_TOKEN_SECONDS``) and carry what the API needs
without a query: ``user_id``, ``roles``, ``market``, ``locale`` (and ``client_id`` for
system clients). Refresh tokens are registered as outstanding (token_blacklist app) so a
rotated or revoked one is refused.

Every refresh token carries a family id (``fam``): a sign-in starts a family, each rotation
passes it on. Presenting a refresh token that was already rotated or revoked is a replay
(RFC 9700 §4.14.2, refresh token reuse detection): the grant then revokes the whole family,
so a thief's copy and the victim's newer token stop working together.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import jwt
from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.accounts.models import User

__all__ = [
    "FAMILY_CLAIM",
    "TokenError",
    "access_claims_verify",
    "access_token_for",
    "access_token_verified",
    "refresh_payload_verify",
    "refresh_token_for",
    "token_family",
    "user_claims",
]


def user_claims(user: User) -> dict[str, Any]:
    roles = sorted(user.groups.values_list("name", flat=True))
    return {"roles": roles, "market": user.market_id, "locale": user.locale}


def access_token_for(
    user: User, *, lifetime_seconds: int | None = None, extra: dict[str, Any] | None = None
) -> AccessToken:
    token = AccessToken.for_user(user)
    token["user_id"] = user.pk  # an integer, like the API's ids (simplejwt writes a string)
    if lifetime_seconds is not None:
        token.set_exp(lifetime=timedelta(seconds=lifetime_seconds))
    for key, value in {**user_claims(user), **(extra or {})}.items():
        token[key] = value
    return token


FAMILY_CLAIM = "fam"


def refresh_token_for(user: User, *, family: str | None = None) -> RefreshToken:
    """A new refresh token (stored as outstanding) in ``family`` (a new family when
    ``None``: a fresh sign-in); its other claims are re-read at refresh."""
    token = RefreshToken.for_user(user)
    token[FAMILY_CLAIM] = family or uuid.uuid4().hex
    # for_user stored the outstanding row before the family claim was added: keep the
    # stored copy equal to what the client gets (family revocation reads it back).
    OutstandingToken.objects.filter(jti=token[api_settings.JTI_CLAIM]).update(token=str(token))
    return token


def token_family(raw: str) -> str | None:
    """The family id of an encoded refresh token, signature NOT checked (only for tokens
    read back from our own outstanding-token table)."""
    try:
        payload = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    family = payload.get(FAMILY_CLAIM)
    return family if isinstance(family, str) else None


#: Access tokens this process verified, by their encoded form, with their expiry: a
#: member's next request (an app sends several per screen; the locale middleware and DRF
#: both look at the token) skips the base64 checks, the HMAC and the claim checks. Safe
#: because an access token is not revocable (only refresh tokens are blacklisted) and its
#: claims cannot change; the expiry is checked on every hit. Bounded: the oldest half goes
#: when it is full.
_VERIFIED: dict[str, tuple[AccessToken, float]] = {}
VERIFIED_MAX = 4096


def verified_tokens_forget() -> None:
    """Empty this process's memo of verified access tokens (tests)."""
    _VERIFIED.clear()


def access_token_verified(raw: str) -> AccessToken:
    """The access token ``raw``, its signature, expiry and type verified (remembered until
    it expires: ``_VERIFIED``); no database query. Raises: ``TokenError``."""
    hit = _VERIFIED.get(raw)
    if hit is not None:
        if time.time() < hit[1]:
            return hit[0]
        _VERIFIED.pop(raw, None)
    # simplejwt annotates the constructor's token as Token, but it takes the encoded str.
    token = AccessToken(raw)  # type: ignore[arg-type]
    expires = token.get("exp")
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        if len(_VERIFIED) >= VERIFIED_MAX:
            for stale in list(_VERIFIED)[: VERIFIED_MAX // 2]:
                _VERIFIED.pop(stale, None)
        _VERIFIED[raw] = (token, float(expires))
    return token


def access_claims_verify(raw: str) -> dict[str, Any]:
    """Verify signature, expiry and type of an access token; no database query.

    Raises: ``TokenError``.
    """
    return dict(access_token_verified(raw).payload)


def refresh_payload_verify(raw: str) -> dict[str, Any]:
    """Verify signature, expiry and type of a refresh token, but not the blacklist (the
    grant tells a replay from a first use itself). Raises: ``TokenError``."""
    try:
        payload = token_backend.decode(raw, verify=True)  # type: ignore[arg-type]  # simplejwt: str is right
    except TokenBackendError as exc:
        raise TokenError(str(exc)) from exc
    if payload.get(api_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type or not payload.get("jti"):
        raise TokenError("not a refresh token")
    return dict(payload)


def access_lifetime_seconds() -> int:
    return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
