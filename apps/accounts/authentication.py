"""DRF authentication by ``Authorization: Bearer <access JWT>`` for people and clients."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import Token

from apps.accounts.models import User
from apps.accounts.permissions_sql import active_user_with_may_shop
from apps.accounts.principal import TokenPrincipal
from apps.accounts.tokens import access_token_verified


class BearerJWTAuthentication(JWTAuthentication):
    """Verifies the access token and loads its user (one query by primary key).

    System clients authenticate as their service user, whose group (``data_platform``)
    carries their permissions, and only on views that admit them (see ``authenticate``). A bad, expired or tampered token is ``401
    auth.authentication_failed``; a deactivated user or client likewise.
    """

    www_authenticate_realm = "api"

    def get_raw_token(self, header: bytes) -> bytes | None:
        """The token of ``Authorization: Bearer <token>``; the scheme name is
        case-insensitive (RFC 7235 §2.1: ``bearer``, ``BEARER`` work too)."""
        parts = header.split()
        if not parts or parts[0].lower() != b"bearer":
            return None  # another scheme (Basic...) or none: not ours
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed()
        return parts[1]

    def get_validated_token(self, raw_token: bytes) -> Token:
        """simplejwt's checks (signature, expiry, type), remembered per token until it
        expires (``tokens.access_token_verified``)."""
        try:
            return access_token_verified(raw_token.decode("ascii"))
        except (TokenError, UnicodeDecodeError) as exc:
            raise InvalidToken() from exc

    # simplejwt annotates authenticate/get_user with a TypeVar bound to nothing in the
    # arguments (AuthUser), which no override can match: hence the two ignores.
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, Token] | None:  # type: ignore[override]
        """Also: a system client's token opens only the views made for system clients
        (``system_clients_allowed = True``, the data platform's API); on any other view,
        public ones included, it is ``403 auth.permission_denied``. A data-platform token
        is for its feed, never a way into the shop (issue 22: "nothing else reachable")."""
        try:
            result = super().authenticate(request)
        except (InvalidToken, TokenError) as exc:
            raise exceptions.AuthenticationFailed() from exc
        if result is not None and getattr(result[0], "is_service_account", False):
            view = (getattr(request, "parser_context", None) or {}).get("view")
            if not getattr(view, "system_clients_allowed", False):
                raise exceptions.PermissionDenied()
        return result

    def get_user(self, validated_token: Any) -> User:  # type: ignore[override]
        user_id = validated_token.get("user_id")
        if user_id is None:
            raise exceptions.AuthenticationFailed()
        # The member check every shop view makes (``permissions.may_shop``) comes with the
        # user, in the same query: one round trip per request instead of two.
        try:
            user = active_user_with_may_shop(int(user_id))
        except (TypeError, ValueError):  # not an id: not a token of ours
            user = None
        if user is None:
            raise exceptions.AuthenticationFailed()
        return user  # type: ignore[no-any-return]


class BearerClaimsAuthentication(BearerJWTAuthentication):
    """Like :class:`BearerJWTAuthentication` (same token checks, same errors), but the user
    is a :class:`TokenPrincipal` built from the token's claims: no database query. Only for
    views written for it (they load the account before any write)."""

    def get_user(self, validated_token: Any) -> TokenPrincipal:  # type: ignore[override]
        user_id = validated_token.get("user_id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise exceptions.AuthenticationFailed()
        roles = validated_token.get("roles") or ()
        return TokenPrincipal(
            pk=user_id,
            roles=frozenset(str(role) for role in roles) if isinstance(roles, list) else frozenset(),
            market_id=validated_token.get("market"),
            locale=str(validated_token.get("locale") or ""),
            is_service_account="client_id" in validated_token,
        )


class BearerJWTScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    """Documents BearerJWTAuthentication in the OpenAPI schema (bearerAuth, JWT)."""

    target_class = "apps.accounts.authentication.BearerJWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from POST /api/v1/auth/token.",
        }
