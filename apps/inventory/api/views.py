"""GET /inventory/availability: the hot stock check (P95 <= 100 ms). One aggregated query."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.schema import problem_responses
from apps.core.errors import RequestInvalid
from apps.core.validators import code_error, is_valid_code
from apps.inventory import selectors
from apps.inventory.errors import TooManySkus

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
