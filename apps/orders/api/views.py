"""Orders API (API.md "Orders and payments"): place, pay, read, cancel and return the
member's orders, and the staff transition endpoint.

Member endpoints need the member role (``accounts.shop``): guests get 401, staff accounts
and system clients 403. Every answer is personal data (``Cache-Control: no-store``).

Request bodies go to the services as sent (items, the address, the refund lines): the
services validate them and answer the domain codes (``order.items_invalid``,
``order.address_required``, ``order.refund_invalid``...). Placing, paying and returning
need an ``Idempotency-Key`` (``@idempotent()``); the key is handed to the service too, so
even a request taken over after a crash never places or charges twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.permissions import HasPerm, IsMember
from apps.accounts.selectors import staff_markets
from apps.carts.errors import CouponNotFound, PurchaseLimitExceeded, SkuUnavailable
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
from apps.core.pagination import CursorPagination
from apps.inventory.errors import InsufficientStock, ReservationExpired
from apps.markets.models import Market
from apps.orders import selectors, services
from apps.orders.api.filters import OrderListForm
from apps.orders.api.serializers import (
    OrderListSerializer,
    OrderSerializer,
    PaymentSerializer,
    RefundSerializer,
    ShippingAddressSerializer,
    order_json,
    payment_json,
    refund_json,
)
from apps.orders.errors import (
    AddressRequired,
    InvalidTransition,
    NotCancellable,
    NotPayable,
    OrderEmpty,
    OrderItemsInvalid,
    OrderNotFound,
    PaymentPending,
    RefundInvalid,
    ReturnWindowClosed,
    TransitionNotAllowed,
)
from apps.orders.models import Order, OrderPayment
from apps.payments.errors import (
    InsufficientBalance,
    MethodMarketMismatch,
    MethodNotFound,
    PaymentDeclined,
    ProviderUnavailable,
)

_MEMBER_ERRORS = (LoginRequired, PermissionDenied)
_IDEMPOTENCY_ERRORS = (
    IdempotencyKeyRequired,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotencyInProgress,
)
ORDER_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The order's `id`.")
WALLET, PAYMENT_METHOD = OrderPayment.Method.WALLET, OrderPayment.Method.PAYMENT_METHOD


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _market(request: Request) -> Market:
    return request.market  # type: ignore[attr-defined,no-any-return]


def _body(request: Request) -> dict[str, Any]:
    return request.data if isinstance(request.data, dict) else {}


def _order_id(value: str) -> str:
    """The path's order id as a canonical UUID string; anything else names no order."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise OrderNotFound(order=value[:64]) from None


def _field_invalid(field: str, message: str, code: str = "invalid") -> RequestInvalid:
    err = RequestInvalid()
    err.params["errors"] = [{"field": field, "code": code, "message": message}]
    return err


def _member_order(request: Request, order_id: str) -> Order:
    """The member's order with everything the JSON shows (prefetched)."""
    order = selectors.order_get(user=_user(request), public_id=order_id)
    if order is None:
        raise OrderNotFound(order=order_id)
    return order


class MemberApi(APIView):
    permission_classes = [IsMember]
    personal_data = True


class OrderPagination(CursorPagination):
    ordering = ("-created_at", "-id")  # type: ignore[assignment]  # DRF takes a tuple


class OrdersApi(MemberApi):
    """``GET``: the member's orders, newest first (cursor pages, optional ``status``).
    ``POST``: place an order in the request's market (``X-Market``)."""

    pagination_class = OrderPagination

    class InputSerializer(serializers.Serializer):
        """Documentation only: the body goes to ``services.order_place`` as sent."""

        class ItemSerializer(serializers.Serializer):
            sku = serializers.CharField(max_length=64)
            quantity = serializers.IntegerField(min_value=1, max_value=999)

        items = ItemSerializer(
            many=True, required=False, help_text="1-50 lines. Either `items` or `from_cart: true`."
        )
        from_cart = serializers.BooleanField(
            required=False, help_text="Order what the member's cart holds (the cart is kept)."
        )
        coupon_id = serializers.CharField(required=False, help_text="One of the member's coupons.")
        shipping_address = ShippingAddressSerializer(
            required=False, help_text="Omitted: the profile's default address."
        )

    @extend_schema(
        operation_id="orders_list",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=Order.Status.values),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-100, default 20."),
        ],
        responses={200: OrderListSerializer, **problem_responses(*_MEMBER_ERRORS, RequestInvalid)},
        tags=["orders"],
    )
    def get(self, request: Request) -> Response:
        form = OrderListForm(request.query_params)
        if not form.is_valid():
            err = RequestInvalid()
            err.params["errors"] = [
                {"field": field, "code": error.code or "invalid", "message": str(message)}
                for field, errors in form.errors.as_data().items()
                for error in errors
                for message in error.messages
            ]
            raise err
        qs = selectors.order_list(user=_user(request), status=form.cleaned_data["status"] or None)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response([order_json(order) for order in page])

    @extend_schema(
        operation_id="orders_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={
            201: OpenApiResponse(OrderSerializer, description="Placed: `pending` until `expires_at`."),
            **problem_responses(
                *_MEMBER_ERRORS,
                OrderItemsInvalid,
                AddressRequired,
                OrderEmpty,
                SkuUnavailable,
                PurchaseLimitExceeded,
                InsufficientStock,
                CouponNotFound,
                *_IDEMPOTENCY_ERRORS,
            ),
        },
        tags=["orders"],
    )
    @idempotent()
    def post(self, request: Request) -> Response:
        user, data = _user(request), _body(request)
        from_cart = data.get("from_cart", False)
        if not isinstance(from_cart, bool):
            raise OrderItemsInvalid()
        coupon_id = data.get("coupon_id")
        address = data.get("shipping_address")
        if address is None:
            address = dict(user.default_address) if user.default_address else None
        placed = services.order_place(
            user=user,
            market=_market(request),
            idempotency_key=request.headers[IDEMPOTENCY_HEADER],
            items=data.get("items"),
            from_cart=from_cart,
            coupon_id=str(coupon_id) if coupon_id not in (None, "") else None,
            shipping_address=address,
        )
        # A new order comes shaped for its answer (no re-read); a retry's is read.
        order = placed.order if placed.created else _member_order(request, str(placed.order.public_id))
        return Response(order_json(order), status=status.HTTP_201_CREATED)


class OrderGetApi(MemberApi):
    """One of the member's orders (another member's is ``order.not_found``)."""

    @extend_schema(
        operation_id="orders_retrieve",
        parameters=[ORDER_ID],
        responses={200: OrderSerializer, **problem_responses(*_MEMBER_ERRORS, OrderNotFound)},
        tags=["orders"],
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(order_json(_member_order(request, _order_id(id))))


class OrderPaymentCreateApi(MemberApi):
    """Pay a ``pending`` order from the wallet, or with a saved method of its market.

    201: captured, the order is ``paid`` (stock deducted). 202: the provider's answer did
    not arrive in time; the payment stays ``pending`` and is settled later (poll the order,
    given in ``Location``); it is captured once or not at all. A refusal (402) leaves the
    order payable with another key until it expires.
    """

    class InputSerializer(serializers.Serializer):
        method = serializers.ChoiceField(choices=[WALLET, PAYMENT_METHOD])
        payment_method_id = serializers.UUIDField(
            required=False, help_text="With `method: payment_method`: a saved, active method of the market."
        )

    @extend_schema(
        operation_id="orders_payments_create",
        request=InputSerializer,
        parameters=[ORDER_ID, IDEMPOTENCY_KEY_HEADER],
        responses={
            201: PaymentSerializer,
            202: OpenApiResponse(
                PaymentSerializer,
                description="Pending: the provider's answer is awaited. `Location` is the order to poll.",
            ),
            **problem_responses(
                *_MEMBER_ERRORS,
                RequestInvalid,
                OrderNotFound,
                NotPayable,
                PaymentPending,
                ReservationExpired,
                InsufficientBalance,
                PaymentDeclined,
                ProviderUnavailable,
                MethodNotFound,
                MethodMarketMismatch,
                *_IDEMPOTENCY_ERRORS,
            ),
        },
        tags=["orders"],
    )
    @idempotent()
    def post(self, request: Request, id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order_id, user = _order_id(id), _user(request)
        key = request.headers[IDEMPOTENCY_HEADER]
        if data["method"] == WALLET:
            outcome = services.order_pay_wallet(order_id=order_id, user=user, idempotency_key=key)
        else:
            method_id = data.get("payment_method_id")
            if method_id is None:
                raise _field_invalid(
                    "payment_method_id",
                    str(serializers.Field.default_error_messages["required"]),
                    code="required",
                )
            outcome = services.order_pay_method(
                order_id=order_id, user=user, payment_method_id=str(method_id), idempotency_key=key
            )
        if outcome.lines:  # captured by this request: answer from what the service holds
            order = services.order_shaped(outcome.order, lines=outcome.lines, payments=[outcome.payment])
        else:
            order = _member_order(request, order_id)
        body = payment_json(outcome.payment, order)
        if outcome.payment.status == OrderPayment.Status.PENDING:
            response = Response(body, status=status.HTTP_202_ACCEPTED)
            response["Location"] = f"/api/v1/orders/{order_id}"
            return response
        return Response(body, status=status.HTTP_201_CREATED)


class OrderCancelApi(MemberApi):
    """Cancel an order before it ships: ``pending`` releases the stock; ``paid`` returns the
    stock and refunds the payment to where it came from (see ``refunds``)."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True)

    @extend_schema(
        operation_id="orders_cancel",
        request=InputSerializer,
        parameters=[ORDER_ID],
        responses={
            200: OrderSerializer,
            **problem_responses(
                *_MEMBER_ERRORS, RequestInvalid, OrderNotFound, NotCancellable, PaymentPending
            ),
        },
        tags=["orders"],
    )
    def post(self, request: Request, id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order_id = _order_id(id)
        services.order_cancel(
            order_id=order_id, user=_user(request), reason=serializer.validated_data.get("reason", "")
        )
        return Response(order_json(_member_order(request, order_id)))


class OrderRefundCreateApi(MemberApi):
    """Return a ``fulfilled`` order within the market's return window: every line (no
    ``lines``) or some units of some lines. Each line's refund is exact to the won or cent;
    once everything is returned the order is ``refunded``."""

    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            line = serializers.IntegerField(help_text="The line's `position`.")
            quantity = serializers.IntegerField(
                required=False, help_text="Units to return; omitted: all not yet returned."
            )

        reason = serializers.CharField(max_length=500)
        lines = LineSerializer(many=True, required=False)

    @extend_schema(
        operation_id="orders_refunds_create",
        request=InputSerializer,
        parameters=[ORDER_ID, IDEMPOTENCY_KEY_HEADER],
        responses={
            201: RefundSerializer,
            **problem_responses(
                *_MEMBER_ERRORS,
                RequestInvalid,
                OrderNotFound,
                InvalidTransition,
                ReturnWindowClosed,
                RefundInvalid,
                *_IDEMPOTENCY_ERRORS,
            ),
        },
        tags=["orders"],
    )
    @idempotent()
    def post(self, request: Request, id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order_id = _order_id(id)
        lines = data.get("lines")
        refund = services.order_refund(
            order_id=order_id,
            user=_user(request),
            reason=data["reason"],
            idempotency_key=request.headers[IDEMPOTENCY_HEADER],
            lines=[dict(line) for line in lines] if lines is not None else None,
        )
        return Response(refund_json(refund, _member_order(request, order_id)), status=status.HTTP_201_CREATED)


class OrderTransitionApi(APIView):
    """Staff move an order of their markets (audited: a reason is required). Customer
    service fulfils, cancels and refunds within policy; operations
    (``orders.force_transition``) may take any legal move, a manual PENDING -> PAID and a
    refund outside the return window included. An order of another market is
    ``order.not_found``."""

    permission_classes = [HasPerm("orders.transition_order")]
    personal_data = True

    class InputSerializer(serializers.Serializer):
        to_status = serializers.CharField(
            max_length=16, help_text="`paid`, `fulfilled`, `refunded` or `cancelled`: a legal move from now."
        )
        reason = serializers.CharField(max_length=500, help_text="Why (kept in the status history).")

    @extend_schema(
        operation_id="internal_orders_transitions_create",
        request=InputSerializer,
        parameters=[ORDER_ID],
        responses={
            200: OrderSerializer,
            **problem_responses(
                LoginRequired,
                PermissionDenied,
                RequestInvalid,
                OrderNotFound,
                InvalidTransition,
                TransitionNotAllowed,
                ReturnWindowClosed,
                PaymentPending,
                NotPayable,
                InsufficientStock,
                ReservationExpired,
            ),
        },
        tags=["internal"],
    )
    def post(self, request: Request, id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order_id, actor = _order_id(id), _user(request)
        scope = staff_markets(actor)
        markets = sorted(scope) if scope is not None else list(Market.objects.values_list("code", flat=True))
        services.order_transition(
            order_id=order_id,
            to_status=data["to_status"],
            actor=actor,
            reason=data["reason"],
            markets=markets,
        )
        order = selectors.staff_order_get(markets=markets, public_id=order_id)
        assert order is not None  # the service found it in these markets
        return Response(order_json(order))
