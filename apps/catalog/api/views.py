"""Catalog API: categories, product list/detail, popular products. Open to every caller."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog import presenters, readcache, selectors
from apps.catalog.errors import CategoryNotFound, CursorInvalid, ProductNotFound
from apps.catalog.views import page_url, popular_cards, product_coupon_applicable, product_page
from apps.core.api.schema import problem_responses
from apps.core.errors import RequestInvalid
from apps.inventory import selectors as inventory_selectors
from apps.markets.errors import FxRateUnavailable


class MoneySerializer(serializers.Serializer):
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    display = serializers.CharField()


class SaleSerializer(serializers.Serializer):
    price = MoneySerializer()
    ends_at = serializers.DateTimeField(allow_null=True)


class RefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class ProductSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    brand = RefSerializer(allow_null=True)
    category = RefSerializer()
    image_url = serializers.CharField()
    price = MoneySerializer(help_text="The effective price (sale price while a sale runs).")
    list_price = MoneySerializer()
    sale = SaleSerializer(allow_null=True)
    discount_percent = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    stock_status = serializers.ChoiceField(choices=["in_stock", "low", "sold_out"])
    rocket_delivery = serializers.BooleanField()
    coupon_applicable = serializers.BooleanField()
    rating = serializers.FloatField(allow_null=True)


#: A path ``build_absolute_uri`` only prefixes with the scheme and host: absolute, not
#: scheme-relative, no query or fragment, no ``.``/``..`` segments, nothing to percent-encode.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")


def _absolute(request: Request) -> Callable[[str], str]:
    """``request.build_absolute_uri``, with the scheme and host worked out once per request
    for plain paths (a page of cards asks for 20-100 image URLs)."""
    build = request.build_absolute_uri
    base = build("/")[:-1]

    def absolute(location: str) -> str:
        if (
            _PLAIN_PATH.fullmatch(location)
            and not location.startswith("//")
            and "/./" not in location
            and "/../" not in location
        ):
            return base + location
        return build(location)

    return absolute


class CategoryListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        slug = serializers.CharField()
        name = serializers.CharField()
        children = serializers.ListField(child=serializers.DictField())

    @extend_schema(operation_id="categories_list", responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(presenters.categories_json())


class ProductListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        results = ProductSummarySerializer(many=True)
        next = serializers.CharField(allow_null=True)
        previous = serializers.CharField(allow_null=True)

    @extend_schema(
        operation_id="products_list",
        parameters=[
            OpenApiParameter(
                "category", OpenApiTypes.STR, description="Category slug; includes descendants."
            ),
            OpenApiParameter("q", OpenApiTypes.STR, description="Search words (Korean or English)."),
            OpenApiParameter(
                "min_price", OpenApiTypes.INT, description="Minor units of the effective price."
            ),
            OpenApiParameter(
                "max_price", OpenApiTypes.INT, description="Minor units of the effective price."
            ),
            OpenApiParameter("in_stock", OpenApiTypes.BOOL),
            OpenApiParameter(
                "sort",
                OpenApiTypes.STR,
                enum=list(selectors.SORTS),
                description="Default: popular; relevance when `q` is given.",
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-100, default 20."),
        ],
        responses={
            200: OutputSerializer,
            **problem_responses(RequestInvalid, CursorInvalid, CategoryNotFound),
        },
    )
    def get(self, request: Request) -> Response:
        # Cached without stock (readcache); ``in_stock=`` filters on stock: never cached.
        cacheable = "in_stock" not in request.GET
        key = readcache.key_for("api-list", request) if cacheable else ""
        entry, version = readcache.read(key) if cacheable else (None, None)
        market = request.market  # type: ignore[attr-defined]
        if entry is not None:
            body = entry.body
            available = inventory_selectors.available_by_product_ids(
                product_ids=list(entry.ids), market_code=market.code
            )
            for item in body["results"]:
                presenters.summary_stock(item, available.get(item["id"], 0))
            return Response(body)
        page, cards = product_page(request)
        body = {
            "results": presenters.summaries_json(cards, _absolute(request)),
            "next": page_url(request, page.next_cursor, absolute=True),
            "previous": page_url(request, page.previous_cursor, absolute=True),
        }
        if cacheable:
            readcache.write(
                key,
                version,
                body=body,
                ids=[card.id for card in cards],
                boundaries=[row_boundary for row in page.items for row_boundary in _row_boundaries(row)],
            )
        return Response(body)


def _row_boundaries(row: Any) -> tuple[Any, Any]:
    """A listing row's sale start and end: the moments its effective price changes."""
    return (row.sale_starts_at, row.sale_ends_at) if row.sale_price is not None else (None, None)


class ProductPopularApi(APIView):
    OutputSerializer = ProductSummarySerializer

    @extend_schema(operation_id="products_popular", responses={200: ProductSummarySerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(
            presenters.summaries_json(popular_cards(request.market), _absolute(request))  # type: ignore[attr-defined]
        )


class ProductDetailApi(APIView):
    class OutputSerializer(ProductSummarySerializer):
        class SkuSerializer(serializers.Serializer):
            sku = serializers.CharField()
            options = serializers.DictField(child=serializers.CharField())
            price = MoneySerializer()
            list_price = MoneySerializer()
            sale = SaleSerializer(allow_null=True)
            available_quantity = serializers.IntegerField()
            max_per_order = serializers.IntegerField()

        class PromotionSerializer(serializers.Serializer):
            campaign_id = serializers.IntegerField()
            name = serializers.CharField()
            discount = serializers.CharField()

        description = serializers.CharField()
        max_per_order = serializers.IntegerField()
        skus = SkuSerializer(many=True)
        promotions = PromotionSerializer(many=True)

    @extend_schema(
        operation_id="products_retrieve",
        responses={200: OutputSerializer, **problem_responses(ProductNotFound, FxRateUnavailable)},
    )
    def get(self, request: Request, product_id: int) -> Response:
        market = request.market  # type: ignore[attr-defined]
        key = readcache.key_for("api-detail", request)
        entry, version = readcache.read(key)
        if entry is not None:
            available = inventory_selectors.available_by_sku_ids(
                sku_ids=list(entry.ids), market_code=market.code
            )
            return Response(presenters.detail_stock(entry.body, list(entry.ids), available))
        detail = selectors.product_detail_get(product_id=product_id, market=market)
        sku_ids = [v.sku.pk for v in detail.skus]
        available = inventory_selectors.available_by_sku_ids(sku_ids=sku_ids, market_code=market.code)
        flag = product_coupon_applicable(detail.product.pk, market)
        body = presenters.detail_json(detail, available, _absolute(request), coupon_applicable=flag)
        readcache.write(
            key,
            version,
            body=body,
            ids=sku_ids,
            boundaries=[v.next_change for v in detail.skus],
        )
        return Response(body)
