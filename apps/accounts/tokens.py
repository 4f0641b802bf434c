"""JWTs for people and system clients (djangorestframework-simplejwt does the crypto).

Access tokens are short-lived (``JWT_ACCESS_TOKEN_SECONDS``) and carry what the API needs
without a query: ``user_id``, ``roles``, ``market``, ``locale`` (and ``client_id`` for
system clients). Refresh tokens are registered as outstanding (token_blacklist app) so a
rotated or revoked one is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.accounts.models import User

__all__ = ["TokenError", "access_claims_verify", "access_token_for", "refresh_token_for", "user_claims"]


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


def refresh_token_for(user: User) -> RefreshToken:
    """A new refresh token (stored as outstanding); its claims are re-read at refresh."""
    return RefreshToken.for_user(user)


def access_claims_verify(raw: str) -> dict[str, Any]:
    """Verify signature, expiry and type of an access token; no database query.

    Raises: ``TokenError``.
    """
    # simplejwt annotates the constructor's token as Token, but it takes the encoded str.
    return dict(AccessToken(raw).payload)  # type: ignore[arg-type]


def access_lifetime_seconds() -> int:
    return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
