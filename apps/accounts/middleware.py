"""Token claims for the locale/market resolution (apps.markets.resolution._profile)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.accounts.tokens import TokenError, access_claims_verify


class TokenClaimsMiddleware:
    """Set ``request.token_claims`` from a valid Bearer access token.

    Signature, expiry and token type are verified; nothing is read from the database, so
    the API's language and market follow the token's profile at no cost. An invalid token
    is ignored here: DRF's authentication answers it with 401.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() == "bearer" and raw.strip():
            try:
                claims = access_claims_verify(raw.strip())
            except TokenError:
                claims = None
            if claims:
                request.token_claims = {  # type: ignore[attr-defined]
                    "locale": claims.get("locale"),
                    "market": claims.get("market"),
                }
        return self.get_response(request)
