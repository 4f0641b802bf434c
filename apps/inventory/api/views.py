"""Inventory API: the open availability check (P95 <= 100 ms, one aggregated query) and the
staff endpoints: stock per warehouse, adjustments and the audit (inventory_manager,
ops_admin)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.permissions import HasPerm
from apps.accounts.selectors import staff_markets
from apps.core.api.schema import problem_responses
from apps.core.errors import (
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    LoginRequired,
    PermissionDenied,
    RequestInvalid,
)
from apps.core.idempotency import idempotent
from apps.core.pagination import CursorPagination as BaseCursorPagination
from apps.core.validators import code_error, is_valid_code, validate_code
from apps.inventory import selectors, services
from apps.inventory.api.filters import WAREHOUSE_CODE_MAX_LENGTH, MovementListForm
from apps.inventory.errors import (
    AdjustmentInvalid,
    NegativeStock,
    SkuNotFound,
    StockChanged,
    StockLevelNotFound,
    TooManySkus,
    WarehouseNotFound,
)
from apps.inventory.models import StockLevel, StockMovement, Warehouse
from apps.inventory.services.levels import ADJUST_KINDS, REASON_MAX_LENGTH, REFERENCE_MAX_LENGTH, threshold_of

#: Largest change one adjustment may make (far above any shipment; a typo guard).
MAX_DELTA = 1_000_000

OPTIONAL_IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Optional, 1-255 visible ASCII characters: a retry with the same key gets the "
    "stored response (`Idempotent-Replayed: true`) instead of adjusting twice.",
)


class CursorPagination(BaseCursorPagination):
    ordering = "-id"


#: ``catalog.Sku.code``'s length.
SKU_CODE_MAX_LENGTH = 64


class AvailabilityGetApi(APIView):
    """Units available now (on hand minus reserved) per SKU in the request's market.
    Unknown SKUs answer 0."""

    authentication_classes: list = []  # any caller; skip session lookups on the hot path

    class OutputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            sku = serializers.CharField()
            available = serializers.IntegerField()
            market = serializers.CharField()

        items = ItemSerializer(many=True)

    @extend_schema(
        operation_id="inventory_availability",
        parameters=[
            OpenApiParameter(
                "sku",
                OpenApiTypes.STR,
                many=True,
                required=True,
                description="SKU codes (1-64 visible ASCII characters each, at most 100).",
            )
        ],
        responses={200: OutputSerializer, **problem_responses(RequestInvalid, TooManySkus)},
    )
    def get(self, request: Request) -> Response:
        codes = list(dict.fromkeys(c.strip() for c in request.query_params.getlist("sku") if c.strip()))
        if not codes:
            err = RequestInvalid()
            err.params["errors"] = [{"field": "sku", "code": "required", "message": str(err.message)}]
            raise err
        limit = settings.INVENTORY_AVAILABILITY_MAX_SKUS
        if len(codes) > limit:
            raise TooManySkus(max=limit)
        if not all(is_valid_code(c, SKU_CODE_MAX_LENGTH) for c in codes):
            # Neither looked up nor echoed back: a SKU code is 1-64 visible ASCII characters.
            err = RequestInvalid()
            message = code_error(SKU_CODE_MAX_LENGTH).messages[0]
            err.params["errors"] = [{"field": "sku", "code": "invalid", "message": message}]
            raise err
        market = request.market  # type: ignore[attr-defined]
        found = selectors.available_by_sku_codes(codes=codes, market_code=market.code)
        return Response(
            {
                "items": [
                    {"sku": c, "available": max(found.get(c, 0), 0), "market": market.code} for c in codes
                ]
            }
        )


# --- Staff: stock per warehouse, adjustments and the audit (API.md "Inventory") -----------

_VIEW_STOCK = HasPerm("inventory.view_stocklevel")
_ADJUST_STOCK = HasPerm("inventory.change_stocklevel")
_VIEW_LEDGER = HasPerm("inventory.view_stockmovement")
_STAFF_ERRORS = (LoginRequired, PermissionDenied)


def _in_scope(request: Request, levels: list[StockLevel]) -> list[StockLevel]:
    """The rows of the markets the staff member works in (``staff_markets``: a manager
    scoped to one market sees and moves only its stock, as in the back office)."""
    markets = staff_markets(request.user)
    return levels if markets is None else [lv for lv in levels if lv.warehouse.market_id in markets]


def _form_invalid(form: forms.Form) -> RequestInvalid:
    err = RequestInvalid()
    err.params["errors"] = [
        {"field": field, "code": error.code or "invalid", "message": str(message)}
        for field, errors in form.errors.as_data().items()
        for error in errors
        for message in error.messages
    ]
    return err


class LevelSerializer(serializers.Serializer):
    warehouse = serializers.CharField()
    warehouse_name = serializers.CharField()
    market = serializers.CharField()
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()
    low_stock_threshold = serializers.IntegerField(help_text="The row's own threshold, else the default.")


def _level_json(level: StockLevel) -> dict[str, Any]:
    return {
        "warehouse": level.warehouse.code,
        "warehouse_name": level.warehouse.name,
        "market": level.warehouse.market_id,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
        "low_stock_threshold": threshold_of(level),
    }


class MovementSerializer(serializers.Serializer):
    class ActorSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.CharField()

    id = serializers.IntegerField()
    sku = serializers.CharField()
    warehouse = serializers.CharField()
    delta = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=StockMovement.Kind.values)
    reason = serializers.CharField()
    reference = serializers.CharField()
    actor = ActorSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    on_hand_before = serializers.IntegerField()
    on_hand_after = serializers.IntegerField()


def _movement_json(movement: StockMovement) -> dict[str, Any]:
    actor = movement.actor
    return {
        "id": movement.pk,
        "sku": movement.sku.code,
        "warehouse": movement.warehouse.code,
        "delta": movement.delta,
        "kind": movement.kind,
        "reason": movement.reason,
        "reference": movement.reference,
        "actor": {"id": actor.pk, "email": actor.email} if actor is not None else None,
        "created_at": serializers.DateTimeField().to_representation(movement.created_at),
        "on_hand_before": movement.on_hand_before,
        "on_hand_after": movement.on_hand_after,
    }


class StockGetApi(APIView):
    """On hand, reserved and available units of one SKU in every warehouse (staff)."""

    permission_classes = [_VIEW_STOCK]

    class OutputSerializer(serializers.Serializer):
        sku = serializers.CharField()
        levels = LevelSerializer(many=True)

    @extend_schema(
        operation_id="inventory_stock_retrieve",
        responses={200: OutputSerializer, **problem_responses(*_STAFF_ERRORS, RequestInvalid, SkuNotFound)},
        tags=["inventory"],
    )
    def get(self, request: Request, sku: str) -> Response:
        if not is_valid_code(sku, SKU_CODE_MAX_LENGTH):
            err = RequestInvalid()
            err.params["errors"] = [
                {"field": "sku", "code": "invalid", "message": code_error(SKU_CODE_MAX_LENGTH).messages[0]}
            ]
            raise err
        levels = selectors.stock_levels_for_sku(sku_code=sku)
        if not levels and not selectors.sku_exists(code=sku):
            raise SkuNotFound(sku=sku)
        return Response({"sku": sku, "levels": [_level_json(level) for level in _in_scope(request, levels)]})


class StockAdjustmentsApi(APIView):
    """``GET``: the stock ledger (audit), newest first. ``POST``: adjust one SKU in one
    warehouse (receipt, correction, damage, return) through ``services.stock_adjust``.
    The ledger cannot be edited or deleted: there is no PUT, PATCH or DELETE."""

    pagination_class = CursorPagination

    def get_permissions(self) -> list[Any]:
        return [_ADJUST_STOCK() if self.request.method == "POST" else _VIEW_LEDGER()]

    class InputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=SKU_CODE_MAX_LENGTH, validators=[validate_code])
        warehouse = serializers.CharField(
            max_length=WAREHOUSE_CODE_MAX_LENGTH,
            validators=[lambda v: validate_code(v, WAREHOUSE_CODE_MAX_LENGTH)],
        )
        delta = serializers.IntegerField(
            min_value=-MAX_DELTA, max_value=MAX_DELTA, help_text="Units added (+) or removed (-); not 0."
        )
        kind = serializers.ChoiceField(choices=list(ADJUST_KINDS))
        reason = serializers.CharField(max_length=REASON_MAX_LENGTH)
        reference = serializers.CharField(
            max_length=REFERENCE_MAX_LENGTH, required=False, default="", allow_blank=True
        )
        expected_on_hand = serializers.IntegerField(
            min_value=0,
            max_value=MAX_DELTA,
            required=False,
            allow_null=True,
            default=None,
            help_text="What the caller saw; a different on hand is 409 inventory.stock_changed.",
        )

        def validate_delta(self, value: int) -> int:
            if value == 0:
                raise serializers.ValidationError(_("The change must not be 0."), code="zero")
            return value

        def validate_reason(self, value: str) -> str:
            if not value.strip():
                raise serializers.ValidationError(_("This field may not be blank."), code="blank")
            return value.strip()

    class OutputSerializer(serializers.Serializer):
        sku = serializers.CharField()
        movement = MovementSerializer()
        level = LevelSerializer()
        levels = LevelSerializer(many=True, help_text="Every warehouse's row of the SKU after the change.")

    class ListOutputSerializer(serializers.Serializer):
        results = MovementSerializer(many=True)
        next = serializers.CharField(allow_null=True)
        previous = serializers.CharField(allow_null=True)

    @extend_schema(
        operation_id="inventory_adjustments_list",
        parameters=[
            OpenApiParameter("sku", OpenApiTypes.STR, description="SKU code."),
            OpenApiParameter("warehouse", OpenApiTypes.STR, description="Warehouse code."),
            OpenApiParameter("actor", OpenApiTypes.INT, description="User id of who made the change."),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=StockMovement.Kind.values),
            OpenApiParameter("created_from", OpenApiTypes.DATETIME, description="ISO 8601; inclusive."),
            OpenApiParameter("created_to", OpenApiTypes.DATETIME, description="ISO 8601; exclusive."),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-100, default 20."),
        ],
        responses={200: ListOutputSerializer, **problem_responses(*_STAFF_ERRORS, RequestInvalid)},
        tags=["inventory"],
    )
    def get(self, request: Request) -> Response:
        form = MovementListForm(request.query_params)
        if not form.is_valid():
            raise _form_invalid(form)
        data = form.cleaned_data
        qs = selectors.stock_movement_list(
            sku_code=data["sku"] or None,
            warehouse_code=data["warehouse"] or None,
            actor_id=data["actor"],
            kind=data["kind"] or None,
            created_from=data["created_from"],
            created_to=data["created_to"],
        )
        markets = staff_markets(request.user)
        if markets is not None:
            qs = qs.filter(warehouse__market_id__in=sorted(markets))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response([_movement_json(m) for m in page])

    @extend_schema(
        operation_id="inventory_adjustments_create",
        request=InputSerializer,
        parameters=[OPTIONAL_IDEMPOTENCY_KEY],
        responses={
            201: OutputSerializer,
            **problem_responses(
                *_STAFF_ERRORS,
                RequestInvalid,
                AdjustmentInvalid,
                SkuNotFound,
                WarehouseNotFound,
                StockLevelNotFound,
                NegativeStock,
                StockChanged,
                IdempotencyKeyInvalid,
                IdempotencyKeyReused,
                IdempotencyInProgress,
            ),
        },
        tags=["inventory"],
    )
    @idempotent(required=False)
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        markets = staff_markets(request.user)
        if (
            markets is not None
            and not Warehouse.objects.filter(code=data["warehouse"], market_id__in=sorted(markets)).exists()
        ):
            # Another market's warehouse is as unknown to a scoped manager as a made-up one.
            raise WarehouseNotFound(warehouse=data["warehouse"])
        level = services.stock_adjust(
            sku_code=data["sku"],
            warehouse_code=data["warehouse"],
            delta=data["delta"],
            kind=data["kind"],
            reason=data["reason"],
            reference=data["reference"],
            actor=request.user if isinstance(request.user, User) else None,
            expected_on_hand=data["expected_on_hand"],
        )
        movement = selectors.stock_movement_list(
            sku_code=data["sku"], warehouse_code=data["warehouse"]
        ).first()
        assert movement is not None
        return Response(
            {
                "sku": data["sku"],
                "movement": _movement_json(movement),
                "level": _level_json(level),
                "levels": [
                    _level_json(lv)
                    for lv in _in_scope(request, selectors.stock_levels_for_sku(sku_code=data["sku"]))
                ],
            },
            status=status.HTTP_201_CREATED,
        )
