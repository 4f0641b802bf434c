"""Auth and account API (API.md "Auth and accounts")."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from django.http import QueryDict
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.accounts import errors, services
from apps.accounts.auth import mark_sign_in_handled, signed_in_user
from apps.accounts.models import Consent, User
from apps.accounts.permissions import IsPerson
from apps.accounts.selectors import consents_current, member_export, user_roles
from apps.accounts.throttling import AuthScopeThrottle
from apps.core.api.schema import PROBLEM, problem_responses
from apps.core.errors import (
    AuthenticationFailed,
    DomainError,
    LoginRequired,
    PermissionDenied,
    RequestInvalid,
    Throttled,
)
from apps.core.validators import validate_country_code
from apps.markets.errors import UnknownMarket


class AddressSerializer(serializers.Serializer):
    recipient = serializers.CharField(max_length=100, allow_blank=True, required=False)
    line1 = serializers.CharField(max_length=200, allow_blank=True, required=False)
    line2 = serializers.CharField(max_length=200, allow_blank=True, required=False)
    city = serializers.CharField(max_length=100, allow_blank=True, required=False)
    region = serializers.CharField(max_length=100, allow_blank=True, required=False)
    postal_code = serializers.CharField(max_length=20, allow_blank=True, required=False)
    country = serializers.CharField(
        max_length=2, allow_blank=True, required=False, validators=[validate_country_code]
    )


class ProfileOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    locale = serializers.CharField()
    market = serializers.CharField(source="market_id")
    phone = serializers.CharField()
    default_address = AddressSerializer(allow_null=True)
    roles = serializers.ListField(child=serializers.CharField())
    consents = serializers.DictField(child=serializers.DictField())
    date_joined = serializers.DateTimeField()


def profile_data(user: User) -> dict[str, Any]:
    return ProfileOutputSerializer(
        {
            "id": user.pk,
            "email": user.email,
            "name": user.name,
            "locale": user.locale,
            "market_id": user.market_id,
            "phone": str(user.phone or ""),
            "default_address": dict(user.default_address) if user.default_address else None,
            "roles": user_roles(user),
            "consents": consents_current(user),
            "date_joined": user.date_joined,
        }
    ).data


class AuthRegisterApi(APIView):
    """Create a member account (201 with the profile)."""

    permission_classes: list = []
    authentication_classes: list = []
    throttle_classes = [AuthScopeThrottle]
    throttle_scope = "register"

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        name = serializers.CharField(max_length=150, allow_blank=True, required=False, default="")
        market = serializers.CharField(
            min_length=2, max_length=2, required=False, help_text="KR or US; the request's market if omitted."
        )
        locale = serializers.ChoiceField(
            choices=["ko", "en"], required=False, help_text="The request's language if omitted."
        )
        consents = serializers.ListField(
            child=serializers.ChoiceField(choices=Consent.Kind.values),
            required=False,
            default=list,
            help_text="Kinds the shopper accepts: terms and privacy always, cross_border_transfer "
            "for KR members; marketing is optional.",
        )

    @extend_schema(
        operation_id="auth_register",
        request=InputSerializer,
        responses={
            201: ProfileOutputSerializer,
            **problem_responses(
                errors.EmailTaken,
                errors.PasswordWeak,
                errors.ConsentRequired,
                RequestInvalid,
                UnknownMarket,
                Throttled,
            ),
        },
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.user_register(
            email=data["email"],
            password=data["password"],
            name=data["name"],
            market=data.get("market", ""),
            locale=data.get("locale", ""),
            consents=data["consents"],
            source="api",
        )
        return Response(profile_data(user), status=status.HTTP_201_CREATED)


TOKEN_RESPONSE = inline_serializer(
    name="TokenResponse",
    fields={
        "access_token": serializers.CharField(),
        "token_type": serializers.CharField(),
        "expires_in": serializers.IntegerField(),
        "refresh_token": serializers.CharField(required=False),
        "scope": serializers.CharField(),
    },
)
OAUTH_ERROR = inline_serializer(
    name="OAuthError",
    fields={
        "error": serializers.CharField(),
        "error_description": serializers.CharField(),
        "code": serializers.CharField(
            required=False,
            help_text="Joopang's error code where one applies: `auth.invalid_credentials`, "
            "`auth.sign_in_locked`.",
        ),
    },
)


#: Longest value any token-endpoint parameter may have (a refresh token is ~400 characters).
TOKEN_PARAM_MAX_LENGTH = 4096
TOKEN_PARAMS = ("grant_type", "username", "password", "refresh_token", "client_id", "client_secret")


def _token_parsers() -> list[Any]:
    """The project's JSON and form parsers (whatever hardening they carry), nothing else."""
    wanted = {"application/json", "application/x-www-form-urlencoded"}
    parsers: list[Any] = list(api_settings.DEFAULT_PARSER_CLASSES)
    return [parser for parser in parsers if parser.media_type in wanted]


class AuthTokenApi(APIView):
    """OAuth 2.0 token endpoint (RFC 6749 §4.3, §6, §4.4), form or JSON body.

    Errors use RFC 6749 §5.2 bodies, not problem+json: ``invalid_request`` (also for a
    body that cannot be parsed, a parameter given twice or not a string, and client
    credentials given both as HTTP Basic and in the body), ``invalid_grant``,
    ``unsupported_grant_type`` (400) and ``invalid_client`` (401). A password grant refused
    by the sign-in policy's lockout is ``invalid_grant`` with status 429, ``Retry-After`` and
    ``code: auth.sign_in_locked``; the per-address rate limits answer problem+json 429
    ``request.throttled``.
    """

    permission_classes: list = []
    authentication_classes: list = []
    parser_classes = _token_parsers()
    throttle_classes = [AuthScopeThrottle]
    throttle_scope = "token"

    class InputSerializer(serializers.Serializer):
        grant_type = serializers.ChoiceField(choices=["password", "refresh_token", "client_credentials"])
        username = serializers.CharField(required=False)
        password = serializers.CharField(required=False)
        refresh_token = serializers.CharField(required=False)
        client_id = serializers.CharField(required=False)
        client_secret = serializers.CharField(required=False)

    @staticmethod
    def _oauth_error(exc: services.OAuthError) -> Response:
        body: dict[str, Any] = {"error": exc.error, "error_description": exc.description}
        if exc.code:
            body["code"] = exc.code
        response = Response(body, status=exc.status, headers=exc.headers or None)
        if exc.error == "invalid_client":
            response["WWW-Authenticate"] = 'Basic realm="api"'
        response["Cache-Control"] = "no-store"
        return mark_sign_in_handled(response)  # type: ignore[return-value]

    def handle_exception(self, exc: Exception) -> Response:
        """A body that cannot be read is ``invalid_request`` in the OAuth format (RFC 6749
        §5.2), not problem+json; throttling and server errors keep the common format."""
        body_error = isinstance(exc, (ParseError, UnsupportedMediaType)) or (
            isinstance(exc, DomainError)
            and exc.code.startswith("request.")
            and exc.code not in {"request.throttled", "request.server_error"}
        )
        if body_error:
            detail = (
                exc.detail if isinstance(exc, DomainError) else _("The request body could not be parsed.")
            )
            return self._oauth_error(services.OAuthError("invalid_request", str(detail)))
        response = super().handle_exception(exc)
        return mark_sign_in_handled(response)  # type: ignore[return-value]

    @staticmethod
    def _basic_credentials(request: Request) -> tuple[str, str] | None:
        """Client credentials from an HTTP Basic header; ``None`` when there is none.

        Raises: OAuthError invalid_client (a Basic header that cannot be decoded).
        """
        scheme, _sep, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(raw.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise services.OAuthError("invalid_client", _("Client authentication failed."), status=401)
        return unquote(client_id), unquote(secret)

    @staticmethod
    def _parameters(request: Request) -> dict[str, str]:
        """The body's parameters, each a single string (RFC 6749 §3.2: "parameters sent
        without a value MUST be treated as if they were omitted from the request; request
        and response parameters MUST NOT be included more than once").

        Raises: OAuthError invalid_request.
        """
        data = request.data
        if not isinstance(data, dict):  # a JSON array, string or number: no parameters
            raise services.OAuthError("invalid_request", _("The request body must be a set of parameters."))
        params: dict[str, str] = {}
        for name in TOKEN_PARAMS:
            if name not in data:
                continue
            values = data.getlist(name) if isinstance(data, QueryDict) else [data[name]]
            if len(values) > 1:
                raise services.OAuthError(
                    "invalid_request", _("The %(name)s parameter is given more than once.") % {"name": name}
                )
            value = values[0]
            if value is None or value == "":
                continue
            if not isinstance(value, str) or len(value) > TOKEN_PARAM_MAX_LENGTH or "\x00" in value:
                raise services.OAuthError(
                    "invalid_request", _("The %(name)s parameter has an invalid value.") % {"name": name}
                )
            params[name] = value
        return params

    @extend_schema(
        operation_id="auth_token",
        request={
            "application/x-www-form-urlencoded": InputSerializer,
            "application/json": InputSerializer,
        },
        responses={
            200: TOKEN_RESPONSE,
            400: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="TokenBadRequest",
                    serializers=[OAUTH_ERROR, PROBLEM],
                    resource_type_field_name=None,
                ),
                description="OAuth error (RFC 6749 §5.2): `invalid_request` (also: a body that cannot be "
                "parsed, a parameter given twice or not a string, client credentials both in an HTTP Basic "
                "header and in the body), `invalid_grant` (`code`: `auth.invalid_credentials` for a wrong "
                "email or password), `unsupported_grant_type`. Problem+json only when the input guard "
                "refuses the request before the endpoint sees it",
            ),
            401: OpenApiResponse(OAUTH_ERROR, description="`invalid_client`"),
            429: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="TokenTooManyRequests",
                    serializers=[OAUTH_ERROR, PROBLEM],
                    resource_type_field_name=None,
                ),
                description="`invalid_grant` with `code` `auth.sign_in_locked` (OAuth error: too many "
                "failed sign-ins for this email from this address; `Retry-After`), or problem+json "
                "`request.throttled` (too many requests from this address; `Retry-After`)",
            ),
        },
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        try:
            data = self._parameters(request)
            grant_type = data.get("grant_type", "")
            basic = self._basic_credentials(request)
            if basic is not None and ("client_id" in data or "client_secret" in data):
                raise services.OAuthError(
                    "invalid_request",
                    _("Client credentials must be given once: in the Authorization header or in the body."),
                )
            if not grant_type:
                raise services.OAuthError("invalid_request", _("The grant_type parameter is missing."))
            if grant_type == "password":
                username, password = data.get("username"), data.get("password")
                if not username or not password:
                    raise services.OAuthError("invalid_request", _("username and password are required."))
                result = services.token_password_grant(
                    username=username, password=password, request=request._request
                )
            elif grant_type == "refresh_token":
                raw = data.get("refresh_token")
                if not raw:
                    raise services.OAuthError("invalid_request", _("The refresh_token parameter is missing."))
                result = services.token_refresh_grant(refresh_token=raw)
            elif grant_type == "client_credentials":
                client_id, client_secret = basic or (data.get("client_id"), data.get("client_secret"))
                if not client_id or not client_secret:
                    raise services.OAuthError(
                        "invalid_client", _("Client authentication failed."), status=401
                    )
                result = services.token_client_credentials_grant(
                    client_id=client_id, client_secret=client_secret
                )
            else:
                raise services.OAuthError(
                    "unsupported_grant_type",
                    _("Use grant_type password, refresh_token or client_credentials."),
                )
        except services.OAuthError as exc:
            return self._oauth_error(exc)
        response = Response(result.as_json(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
        return mark_sign_in_handled(response)  # type: ignore[return-value]


class MeApi(APIView):
    """The signed-in person's profile: read (GET), change (PATCH), delete (DELETE)."""

    permission_classes = [IsPerson]

    class UpdateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=150, allow_blank=True, required=False)
        locale = serializers.ChoiceField(choices=["ko", "en"], required=False)
        market = serializers.CharField(max_length=2, required=False)
        phone = serializers.RegexField(r"^[0-9+()\- ]{0,32}$", allow_blank=True, required=False)
        default_address = AddressSerializer(allow_null=True, required=False)

    @extend_schema(
        operation_id="me_get",
        responses={
            200: ProfileOutputSerializer,
            **problem_responses(LoginRequired, AuthenticationFailed, PermissionDenied),
        },
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        return Response(profile_data(signed_in_user(request)))

    @extend_schema(
        operation_id="me_update",
        request=UpdateInputSerializer,
        responses={
            200: ProfileOutputSerializer,
            **problem_responses(
                RequestInvalid, UnknownMarket, LoginRequired, AuthenticationFailed, PermissionDenied
            ),
        },
        tags=["accounts"],
    )
    def patch(self, request: Request) -> Response:
        serializer = self.UpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_profile_update(user=signed_in_user(request), **serializer.validated_data)
        return Response(profile_data(user))

    @extend_schema(
        operation_id="me_delete",
        responses={204: None, **problem_responses(LoginRequired, AuthenticationFailed, PermissionDenied)},
        tags=["accounts"],
    )
    def delete(self, request: Request) -> Response:
        services.user_delete(user=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeExportApi(APIView):
    """Download everything we hold about the signed-in person (JSON)."""

    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="me_export",
        responses={
            200: OpenApiResponse(
                description="JSON document: profile, roles, consents, and other apps' sections"
            ),
            **problem_responses(LoginRequired, AuthenticationFailed, PermissionDenied),
        },
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        return Response(
            member_export(signed_in_user(request)),
            headers={
                "Content-Disposition": 'attachment; filename="joopang-my-data.json"',
                "Cache-Control": "no-store",
            },
        )
