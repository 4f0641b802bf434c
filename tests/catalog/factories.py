"""Catalog factories. Products are created through ``services.product_create`` so their
search document and listings exist exactly as in production."""

from __future__ import annotations

from typing import Any

import factory

from apps.catalog import services
from apps.catalog.models import Brand, Category, Product
from apps.catalog.services import PriceSpec, SkuSpec


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"cat-{n}")
    name_ko = factory.Sequence(lambda n: f"카테고리 {n}")
    name_en = factory.Sequence(lambda n: f"Category {n}")
    parent = None


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"brand-{n}")
    name_ko = factory.Sequence(lambda n: f"브랜드 {n}")
    name_en = factory.Sequence(lambda n: f"Brand {n}")


class ProductFactory(factory.Factory):
    """``ProductFactory(kr=12900, us=999, skus=2, ...)``: prices per market in minor units
    (``None`` = no explicit price in that market); ``kr_sale``/``us_sale`` add a running sale."""

    class Meta:
        model = Product

    category = factory.SubFactory(CategoryFactory)
    brand = None
    name_ko = factory.Sequence(lambda n: f"상품 {n}")
    name_en = factory.Sequence(lambda n: f"Product {n}")
    description_ko = ""
    description_en = ""
    rocket_delivery = False
    max_per_order = 10
    kr = 10000
    us = 1000
    kr_sale = None
    us_sale = None
    sale_ends_at = None
    skus = 1
    code = factory.Sequence(lambda n: f"T{n:05d}")

    @classmethod
    def _create(cls, model_class: Any, **kw: Any) -> Product:
        specs = []
        for i in range(kw.pop("skus")):
            prices = {}
            if kw["kr"] is not None:
                prices["KR"] = PriceSpec(kw["kr"] + i * 1000, kw["kr_sale"], None, kw["sale_ends_at"])
            if kw["us"] is not None:
                prices["US"] = PriceSpec(kw["us"] + i * 100, kw["us_sale"], None, kw["sale_ends_at"])
            specs.append(SkuSpec(code=f"{kw['code']}-{i + 1}", options={"size": str(i + 1)}, prices=prices))
        for key in ("kr", "us", "kr_sale", "us_sale", "sale_ends_at", "code"):
            kw.pop(key)
        return services.product_create(skus=specs, **kw)
