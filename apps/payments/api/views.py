"""Wallet API (API.md "Wallet"): the member's wallet, ledger, saved payment methods and
top-ups, and the staff adjustment endpoint.

Member endpoints need the member role (``accounts.shop``): guests get 401, staff accounts
and system clients 403. Every answer is personal data (``Cache-Control: no-store``).

Card data: ``POST /payment-methods`` hands the raw body values to the service, whose first
step refuses anything that looks like a card or account number; no DRF field validation
runs before it, so a refused value is never echoed in an error.
"""

from __future__ import annotations

import hashlib
import uuid

from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.permissions import HasPerm, IsMember
from apps.accounts.selectors import staff_markets
from apps.core.api.schema import IDEMPOTENCY_KEY_HEADER, problem_responses
from apps.core.errors import (
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    LoginRequired,
    PermissionDenied,
    RequestInvalid,
)
from apps.core.idempotency import HEADER as IDEMPOTENCY_HEADER
from apps.core.idempotency import idempotent
from apps.core.pagination import CursorPagination as BaseCursorPagination
from apps.markets.models import Market
from apps.markets.selectors import market_map
from apps.payments import metrics as payment_metrics
from apps.payments import selectors, services
from apps.payments.api.filters import TransactionListForm
from apps.payments.api.serializers import (
    PaymentMethodSerializer,
    TopUpSerializer,
    TransactionListSerializer,
    TransactionSerializer,
    WalletSerializer,
    payment_method_json,
    top_up_json,
    transaction_json,
    wallet_json,
)
from apps.payments.errors import (
    AdjustmentInvalid,
    AdjustmentLimit,
    AmountInvalid,
    CardNumberRefused,
    InsufficientBalance,
    MethodDeclined,
    MethodInvalid,
    MethodLimit,
    MethodMarketMismatch,
    MethodNotFound,
    PaymentDeclined,
    ProviderUnavailable,
    TopUpLimit,
    TopUpNotFound,
    WalletNotFound,
)
from apps.payments.models import WalletEntry

_MEMBER_ERRORS = (LoginRequired, PermissionDenied)
_IDEMPOTENCY_ERRORS = (IdempotencyKeyInvalid, IdempotencyKeyReused, IdempotencyInProgress)

OPTIONAL_IDEMPOTENCY_KEY = OpenApiParameter(
    name=IDEMPOTENCY_HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Optional, 1-255 visible ASCII characters: a retry with the same key gets the "
    "stored response (`Idempotent-Replayed: true`) and never adjusts twice.",
)


def _market(request: Request) -> Market:
    return request.market  # type: ignore[attr-defined,no-any-return]


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def _form_invalid(form: forms.Form) -> RequestInvalid:
    err = RequestInvalid()
    err.params["errors"] = [
        {"field": field, "code": error.code or "invalid", "message": str(message)}
        for field, errors in form.errors.as_data().items()
        for error in errors
        for message in error.messages
    ]
    return err


def _field_invalid(field: str, message: str, code: str = "invalid") -> RequestInvalid:
    err = RequestInvalid()
    err.params["errors"] = [{"field": field, "code": code, "message": message}]
    return err


class MemberApi(APIView):
    permission_classes = [IsMember]
    personal_data = True


# --- wallet and ledger ---------------------------------------------------------------------


class WalletGetApi(MemberApi):
    """The member's balance in the request's market (``X-Market``). A member who never
    used the wallet there has a zero balance; reading creates nothing."""

    @extend_schema(
        operation_id="wallet_retrieve",
        responses={200: WalletSerializer, **problem_responses(*_MEMBER_ERRORS)},
        tags=["wallet"],
    )
    def get(self, request: Request) -> Response:
        market = _market(request)
        wallet = selectors.wallet_find(user=_user(request), market=market)
        return Response(wallet_json(wallet=wallet, market=market))


class TransactionPagination(BaseCursorPagination):
    ordering = ("-created_at", "-id")  # type: ignore[assignment]  # DRF takes a tuple


class TransactionListApi(MemberApi):
    """The wallet's ledger in the request's market, newest first (cursor pages)."""

    pagination_class = TransactionPagination

    @extend_schema(
        operation_id="wallet_transactions_list",
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=WalletEntry.Kind.values),
            OpenApiParameter(
                "created_from",
                OpenApiTypes.STR,
                description="ISO 8601 date or date-time, inclusive. A date starts at midnight in the "
                "market's time zone; a date-time without an offset is in that time zone.",
            ),
            OpenApiParameter(
                "created_to",
                OpenApiTypes.STR,
                description="ISO 8601 date (that whole local day included) or date-time (exclusive).",
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-100, default 20."),
        ],
        responses={200: TransactionListSerializer, **problem_responses(*_MEMBER_ERRORS, RequestInvalid)},
        tags=["wallet"],
    )
    def get(self, request: Request) -> Response:
        market = _market(request)
        form = TransactionListForm(request.query_params, market=market)
        if not form.is_valid():
            raise _form_invalid(form)
        data = form.cleaned_data
        wallet = selectors.wallet_find(user=_user(request), market=market)
        qs = selectors.wallet_entry_list(
            wallet=wallet,
            kind=data["kind"] or None,
            created_from=data["created_from"],
            created_to=data["created_to"],
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response(
            [transaction_json(entry, currency=market.currency) for entry in page]
        )


# --- payment methods -----------------------------------------------------------------------


class PaymentMethodsApi(MemberApi):
    """``GET``: the member's saved methods for the request's market. ``POST``: register one;
    the provider approves it and only its token is kept."""

    class InputSerializer(serializers.Serializer):
        """Documentation only: the body goes to the service unparsed (see the module)."""

        kind = serializers.CharField(help_text="`bank_account` or `card`.")
        label = serializers.CharField(  # type: ignore[assignment]  # a field named "label"
            max_length=40,
            help_text='A name for the method, e.g. "KB국민" (at most 40 characters). Never a card or '
            "account number: anything that looks like one is refused "
            "(`payment_method.card_number_refused`) and never stored or logged.",
        )
        last4 = serializers.CharField(min_length=4, max_length=4, help_text="The last four digits only.")

    class ListOutputSerializer(serializers.Serializer):
        results = PaymentMethodSerializer(many=True)

    @extend_schema(
        operation_id="payment_methods_list",
        responses={200: ListOutputSerializer, **problem_responses(*_MEMBER_ERRORS)},
        tags=["payment-methods"],
    )
    def get(self, request: Request) -> Response:
        methods = selectors.payment_method_list(user=_user(request), market=_market(request))
        return Response({"results": [payment_method_json(m) for m in methods]})

    @extend_schema(
        operation_id="payment_methods_create",
        request=InputSerializer,
        responses={
            201: PaymentMethodSerializer,
            **problem_responses(
                *_MEMBER_ERRORS,
                CardNumberRefused,
                MethodInvalid,
                MethodDeclined,
                MethodLimit,
                ProviderUnavailable,
            ),
        },
        tags=["payment-methods"],
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        # Card data sent in any other field is refused too, before anything else runs.
        for name, value in data.items():
            if name not in ("kind", "label", "last4") and services.looks_like_card_data(str(value)):
                payment_metrics.card_data_refused()
                raise CardNumberRefused()
        if not isinstance(request.data, dict):
            raise MethodInvalid()
        method = services.payment_method_add(
            user=_user(request),
            market=_market(request),
            kind=data.get("kind"),
            label=data.get("label"),
            last4=data.get("last4"),
        )
        return Response(payment_method_json(method), status=status.HTTP_201_CREATED)


class PaymentMethodApi(MemberApi):
    """``DELETE``: take a method off the member's list (past charges keep it)."""

    @extend_schema(
        operation_id="payment_methods_destroy",
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        request=None,
        responses={204: None, **problem_responses(*_MEMBER_ERRORS, MethodNotFound)},
        tags=["payment-methods"],
    )
    def delete(self, request: Request, id: str) -> Response:
        public_id = _uuid(id)
        if public_id is None:
            raise MethodNotFound(payment_method=id)
        services.payment_method_remove(user=_user(request), public_id=public_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- top-ups -------------------------------------------------------------------------------


class TopUpCreatedSerializer(TransactionSerializer):
    top_up = TopUpSerializer()


class TopUpPendingSerializer(serializers.Serializer):
    top_up = TopUpSerializer()
    transaction = TransactionSerializer(allow_null=True, help_text="Null while pending.")


class TopUpDetailSerializer(TopUpSerializer):
    transaction = TransactionSerializer(allow_null=True, help_text="The credit; null until credited.")


class TopUpCreateApi(MemberApi):
    """Charge a saved method of the request's market and credit the wallet.

    201: credited (the ledger row, with ``top_up``). 202: the provider's answer did not
    arrive in time; the top-up is ``pending`` and is settled later (poll
    ``GET /wallet/top-ups/{id}``, given in ``Location``): credited once if the charge went
    through, never twice. 503: nothing was charged; retry with the same key after
    ``Retry-After`` seconds.
    """

    class InputSerializer(serializers.Serializer):
        amount = serializers.IntegerField(
            help_text="Minor units (KRW: won; USD: cents), at least 1; at most the market's "
            "per-top-up limit, and the day's top-ups at most its daily limit."
        )
        payment_method_id = serializers.UUIDField(help_text="A saved, active method of this market.")

    @extend_schema(
        operation_id="wallet_top_ups_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={
            201: TopUpCreatedSerializer,
            202: OpenApiResponse(
                TopUpPendingSerializer,
                description="Pending: the outcome is not known yet. `Location` is the top-up to poll.",
            ),
            **problem_responses(
                *_MEMBER_ERRORS,
                RequestInvalid,
                AmountInvalid,
                MethodNotFound,
                MethodMarketMismatch,
                TopUpLimit,
                PaymentDeclined,
                ProviderUnavailable,
                IdempotencyKeyRequired,
                *_IDEMPOTENCY_ERRORS,
            ),
        },
        tags=["wallet"],
    )
    @idempotent()
    def post(self, request: Request) -> Response:
        user, market = _user(request), _market(request)
        data = request.data if isinstance(request.data, dict) else {}
        method_id = data.get("payment_method_id")
        public_id = _uuid(method_id) if isinstance(method_id, str) else None
        if public_id is None:
            raise _field_invalid(
                "payment_method_id", str(serializers.UUIDField.default_error_messages["invalid"])
            )
        # A key released after a 503 and sent again with another body must not resume the
        # first top-up's charge: the service refuses it (idempotency.key_reused).
        key = request.headers[IDEMPOTENCY_HEADER]
        result = services.top_up(
            user=user, market=market, method_id=public_id, amount=data.get("amount"), request_key=key
        )
        top_up = top_up_json(result.charge, payment_method_id=str(public_id))
        if result.entry is None:
            response = Response({"top_up": top_up, "transaction": None}, status=status.HTTP_202_ACCEPTED)
            response["Location"] = f"/api/v1/wallet/top-ups/{result.charge.reference}"
            return response
        body = transaction_json(result.entry, currency=result.charge.currency)
        return Response({**body, "top_up": top_up}, status=status.HTTP_201_CREATED)


class TopUpGetApi(MemberApi):
    """One of the member's top-ups, with its credit once there is one."""

    @extend_schema(
        operation_id="wallet_top_ups_retrieve",
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: TopUpDetailSerializer, **problem_responses(*_MEMBER_ERRORS, TopUpNotFound)},
        tags=["wallet"],
    )
    def get(self, request: Request, id: str) -> Response:
        reference = _uuid(id)
        charge = (
            selectors.top_up_get(user=_user(request), reference=str(reference))
            if reference is not None
            else None
        )
        if charge is None:
            raise TopUpNotFound(top_up=id)
        try:
            entry: WalletEntry | None = charge.entry
        except WalletEntry.DoesNotExist:
            entry = None
        body = top_up_json(charge, payment_method_id=str(charge.payment_method.public_id))
        body["transaction"] = transaction_json(entry, currency=charge.currency) if entry is not None else None
        return Response(body)


# --- staff adjustments ---------------------------------------------------------------------


class AdjustmentCreatedSerializer(TransactionSerializer):
    user_id = serializers.IntegerField()
    actor_id = serializers.IntegerField()
    market = serializers.CharField()
    reason = serializers.CharField()


class WalletAdjustmentCreateApi(APIView):
    """Credit (``amount`` > 0) or debit (< 0) a member's wallet with a reason, audited.

    Customer service may move at most the market's policy limit per adjustment (above it:
    403 ``wallet.adjustment_limit``); operations are not limited. A member or market
    outside the caller's markets is ``wallet.not_found``.
    """

    permission_classes = [HasPerm("payments.adjust_wallet")]
    personal_data = True

    class InputSerializer(serializers.Serializer):
        amount = serializers.IntegerField(
            min_value=-services.AMOUNT_MAX,
            max_value=services.AMOUNT_MAX,
            help_text="Signed minor units, not 0: a credit is positive, a debit negative.",
        )
        reason = serializers.CharField(
            max_length=500, help_text="Why (kept in the audit; not shown to the member)."
        )
        market = serializers.CharField(
            max_length=8, required=False, help_text="KR or US; defaults to the request's market."
        )

    @extend_schema(
        operation_id="internal_wallet_adjustments_create",
        request=InputSerializer,
        parameters=[OPTIONAL_IDEMPOTENCY_KEY],
        responses={
            201: AdjustmentCreatedSerializer,
            **problem_responses(
                LoginRequired,
                PermissionDenied,
                RequestInvalid,
                AdjustmentInvalid,
                AdjustmentLimit,
                WalletNotFound,
                InsufficientBalance,
                *_IDEMPOTENCY_ERRORS,
            ),
        },
        tags=["internal"],
    )
    @idempotent(required=False)
    def post(self, request: Request, user_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = _user(request)
        code = str(data.get("market") or _market(request).code).upper()
        markets = staff_markets(actor)
        market = market_map().get(code)
        member = User.objects.filter(pk=user_id).first()
        if market is None or (markets is not None and code not in markets) or member is None:
            raise WalletNotFound()
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key:
            digest = hashlib.sha256(
                f"{actor.pk}\x00{member.pk}\x00{market.code}\x00{key}".encode()
            ).hexdigest()
            reference = f"adjustment:{digest[:40]}"
        else:
            reference = f"adjustment:{uuid.uuid4()}"
        entry = services.wallet_adjust(
            user=member,
            market=market,
            amount=data["amount"],
            reason=data["reason"],
            actor=actor,
            reference=reference,
        )
        if entry.amount != data["amount"] or entry.wallet.user_id != member.pk:
            raise IdempotencyKeyReused()  # the key's first adjustment was another one
        return Response(
            {
                **transaction_json(entry, currency=entry.wallet.currency),
                "user_id": member.pk,
                "actor_id": entry.actor_id,
                "market": market.code,
                "reason": entry.reason,
            },
            status=status.HTTP_201_CREATED,
        )
