"""Cart API (API.md "Cart"): guests (``X-Cart-Token``) and members (Bearer token or
session) alike; system clients and staff accounts without the shopper role get 403.

Every answer is ``Cache-Control: no-store`` (``personal_data``): a guest's cart carries its
token and contents without any ``Authorization`` header.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsMember
from apps.carts import selectors, services
from apps.carts.api.serializers import (
    CartSerializer,
    MergeSerializer,
    QuantityField,
    TotalsSerializer,
    cart_json,
    notice_json,
    totals_json,
)
from apps.carts.errors import (
    CartNotFound,
    CartTokenRequired,
    ItemNotFound,
    PurchaseLimitExceeded,
    QuantityInvalid,
    SkuUnavailable,
    TooManyLines,
)
from apps.carts.models import Cart
from apps.carts.web import HEADER_NAME, RequestCart, can_shop, cart_for_request
from apps.core.api.schema import problem_responses
from apps.core.errors import DomainError, LoginRequired, PermissionDenied, RequestInvalid
from apps.core.validators import code_error, is_valid_code, validate_code
from apps.inventory.errors import InsufficientStock

SKU_CODE_MAX_LENGTH = 64
COUPON_ID_MAX_LENGTH = 64

CART_TOKEN = OpenApiParameter(
    name=HEADER_NAME,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Guests: the token `POST /carts` answered (opaque). Ignored for signed-in members.",
)


class CanShop(BasePermission):
    """Guests (a guest cart) and members (``accounts.shop``). A signed-in account without
    the shopper role (staff, system clients) is refused: 403 auth.permission_denied."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_shop(request.user)


_ACCESS = (PermissionDenied,)


def _market(request: Request) -> Any:
    return request.market  # type: ignore[attr-defined]


def _found(request: Request, *, create: bool) -> RequestCart:
    """The request's cart; a guest token that names no live cart is ``cart.not_found``."""
    found = cart_for_request(request, create=False)
    if found.stale_token:
        raise CartNotFound()
    if found.cart is None and create:
        found = cart_for_request(request, create=True)
    return found


def _cart_response(
    request: Request,
    cart: Cart | None,
    *,
    code: int = 200,
    token: str | None = None,
    view: selectors.CartView | None = None,
) -> Response:
    """The cart as JSON: ``view`` when the service already priced it, else read now."""
    if view is None:
        view = selectors.cart_get(cart=cart, market=_market(request))
    response = Response(cart_json(view, selectors.cart_totals(view=view)), status=code)
    if token:
        response[HEADER_NAME] = token
    return response


def _sku(value: str) -> str:
    if not is_valid_code(value, SKU_CODE_MAX_LENGTH):
        err = RequestInvalid()
        message = code_error(SKU_CODE_MAX_LENGTH).messages[0]
        err.params["errors"] = [{"field": "sku", "code": "invalid", "message": message}]
        raise err
    return value


class CartApiView(APIView):
    permission_classes = [CanShop]
    personal_data = True


class CartCreateApi(CartApiView):
    """A guest gets a new cart and its token in ``X-Cart-Token`` (201); a member gets their
    own cart (200, created on first use)."""

    @extend_schema(
        operation_id="carts_create",
        request=None,
        responses={
            201: OpenApiResponse(
                CartSerializer, description="A new guest cart; its token is in the `X-Cart-Token` header."
            ),
            200: OpenApiResponse(CartSerializer, description="The member's cart."),
            **problem_responses(*_ACCESS),
        },
        tags=["carts"],
    )
    def post(self, request: Request) -> Response:
        found = cart_for_request(request, create=False)
        if found.is_member or found.cart is None:
            found = cart_for_request(request, create=True)
        if found.is_member:
            return _cart_response(request, found.cart)
        if found.new_token is None:  # a guest re-sending a live token keeps its cart
            return _cart_response(request, found.cart)
        return _cart_response(request, found.cart, code=201, token=found.new_token)


class CartGetApi(CartApiView):
    """The current cart priced in the request's market (``X-Market``): lines not sold there
    are kept and flagged. A guest without a token has an empty cart (``id`` null)."""

    @extend_schema(
        operation_id="carts_current",
        parameters=[CART_TOKEN],
        responses={200: CartSerializer, **problem_responses(*_ACCESS, CartNotFound)},
        tags=["carts"],
    )
    def get(self, request: Request) -> Response:
        return _cart_response(request, _found(request, create=False).cart)


class CartItemAddApi(CartApiView):
    """Add units of a SKU (to an existing line: the sum is checked). A guest without a
    token gets a new cart, its token in ``X-Cart-Token``."""

    class InputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=SKU_CODE_MAX_LENGTH, validators=[validate_code])
        quantity = QuantityField(allow_null=True, help_text="A whole number, 1 or more.")

    @extend_schema(
        operation_id="carts_items_add",
        parameters=[CART_TOKEN],
        request=InputSerializer,
        responses={
            201: CartSerializer,
            **problem_responses(
                *_ACCESS,
                RequestInvalid,
                QuantityInvalid,
                SkuUnavailable,
                PurchaseLimitExceeded,
                TooManyLines,
                InsufficientStock,
                CartNotFound,
            ),
        },
        tags=["carts"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.parse_quantity(data["quantity"])  # refuse before creating a guest cart
        found = _found(request, create=True)
        assert found.cart is not None
        try:
            view = services.cart_item_add(
                cart=found.cart, sku_code=data["sku"], quantity=data["quantity"], market=_market(request)
            )
        except DomainError:
            if found.new_token is not None:  # its token is never answered: nobody could use it
                services.guest_cart_discard(cart=found.cart)
            raise
        return _cart_response(
            request, found.cart, code=status.HTTP_201_CREATED, token=found.new_token, view=view
        )


class CartItemApi(CartApiView):
    """``PATCH``: set a line's quantity. ``DELETE``: remove the line."""

    class InputSerializer(serializers.Serializer):
        quantity = QuantityField(
            allow_null=True, help_text="A whole number, 1 or more (remove a line with DELETE)."
        )

    def _cart(self, request: Request, sku: str) -> Cart:
        cart = _found(request, create=False).cart
        if cart is None:
            raise ItemNotFound(sku=sku)
        return cart

    @extend_schema(
        operation_id="carts_items_update",
        parameters=[CART_TOKEN],
        request=InputSerializer,
        responses={
            200: CartSerializer,
            **problem_responses(
                *_ACCESS,
                RequestInvalid,
                QuantityInvalid,
                ItemNotFound,
                SkuUnavailable,
                PurchaseLimitExceeded,
                InsufficientStock,
                CartNotFound,
            ),
        },
        tags=["carts"],
    )
    def patch(self, request: Request, sku: str) -> Response:
        sku = _sku(sku)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cart = self._cart(request, sku)
        services.cart_item_update(
            cart=cart, sku_code=sku, quantity=serializer.validated_data["quantity"], market=_market(request)
        )
        return _cart_response(request, cart)

    @extend_schema(
        operation_id="carts_items_remove",
        parameters=[CART_TOKEN],
        request=None,
        responses={
            200: CartSerializer,
            **problem_responses(*_ACCESS, RequestInvalid, ItemNotFound, CartNotFound),
        },
        tags=["carts"],
    )
    def delete(self, request: Request, sku: str) -> Response:
        sku = _sku(sku)
        cart = self._cart(request, sku)
        services.cart_item_remove(cart=cart, sku_code=sku)
        return _cart_response(request, cart)


class CartTotalsApi(CartApiView):
    """Totals of the current cart in the request's market. ``coupon_id``: a pre-check of
    one of the member's coupons against the cart (200 either way): valid, its discount is
    taken off ``total`` and counted in ``discount``; else ``coupon: {valid: false, reason}``
    (``coupon.not_found``, always for a guest, or the ``coupon.not_applicable`` reason)."""

    @extend_schema(
        operation_id="carts_totals",
        parameters=[
            CART_TOKEN,
            OpenApiParameter(
                "coupon_id", OpenApiTypes.STR, description="A coupon of the member to pre-check."
            ),
        ],
        responses={200: TotalsSerializer, **problem_responses(*_ACCESS, RequestInvalid, CartNotFound)},
        tags=["carts"],
    )
    def get(self, request: Request) -> Response:
        coupon_id = request.query_params.get("coupon_id")
        if coupon_id is not None:
            coupon_id = coupon_id.strip()
            if not coupon_id or len(coupon_id) > COUPON_ID_MAX_LENGTH:
                err = RequestInvalid()
                err.params["errors"] = [
                    {"field": "coupon_id", "code": "invalid", "message": str(RequestInvalid.message)}
                ]
                raise err
        cart = _found(request, create=False).cart
        view = selectors.cart_get(cart=cart, market=_market(request))
        return Response(totals_json(selectors.cart_totals(view=view, coupon_id=coupon_id, user=request.user)))


class CartMergeApi(APIView):
    """Merge the guest cart of ``X-Cart-Token`` into the signed-in member's cart: quantities
    summed, then capped by ``max_per_order`` and stock; ``notices`` list what changed. The
    guest cart is deleted (its token names nothing afterwards)."""

    permission_classes = [IsMember]
    personal_data = True

    @extend_schema(
        operation_id="carts_merge",
        parameters=[
            OpenApiParameter(
                name=HEADER_NAME,
                type=OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=True,
                description="The guest cart's token.",
            )
        ],
        request=None,
        responses={
            200: MergeSerializer,
            **problem_responses(LoginRequired, PermissionDenied, CartTokenRequired, CartNotFound),
        },
        tags=["carts"],
    )
    def post(self, request: Request) -> Response:
        token = str(request.META.get("HTTP_X_CART_TOKEN", "")).strip()
        if not token:
            raise CartTokenRequired()
        guest = selectors.guest_cart_get(token=token)
        if guest is None:
            raise CartNotFound()
        result = services.cart_merge(guest_cart=guest, user=request.user, market=_market(request))  # type: ignore[arg-type]
        view = selectors.cart_get(cart=result.cart, market=_market(request))
        return Response(
            {
                "cart": cart_json(view, selectors.cart_totals(view=view)),
                "notices": [notice_json(n) for n in result.notices],
            }
        )
