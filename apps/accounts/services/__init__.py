"""Account use-cases, split by concern: ``profiles`` (members), ``staff`` (roles, market
scope, system clients), ``grants`` (the token endpoint). Import from here."""

from __future__ import annotations

from apps.accounts.services.grants import (
    OAuthError,
    TokenResponse,
    token_client_credentials_grant,
    token_password_grant,
    token_refresh_grant,
)
from apps.accounts.services.profiles import (
    ADDRESS_KEYS,
    address_clean,
    consent_record,
    consent_versions,
    email_normalize,
    login_authenticate,
    password_check,
    required_consents,
    tokens_revoke_all,
    user_delete,
    user_preferences_set,
    user_profile_update,
    user_register,
)
from apps.accounts.services.staff import (
    staff_create_or_update,
    staff_market_scope_set,
    system_client_create,
    system_client_secret_set,
    system_client_update,
    user_roles_set,
)

__all__ = [
    "ADDRESS_KEYS",
    "OAuthError",
    "TokenResponse",
    "address_clean",
    "consent_record",
    "consent_versions",
    "email_normalize",
    "login_authenticate",
    "password_check",
    "required_consents",
    "staff_create_or_update",
    "staff_market_scope_set",
    "system_client_create",
    "system_client_secret_set",
    "system_client_update",
    "token_client_credentials_grant",
    "token_password_grant",
    "token_refresh_grant",
    "tokens_revoke_all",
    "user_delete",
    "user_preferences_set",
    "user_profile_update",
    "user_register",
    "user_roles_set",
]
