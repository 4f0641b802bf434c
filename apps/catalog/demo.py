"""Demo catalog: a bilingual two-level category tree, brands, products with SKUs and KR/US
prices (some US prices missing to show the FX fallback, some sales ending soon), and a few
days of sales so "popular" is not empty. Stock comes from ``apps/inventory/demo.py``.

``generate_products`` is also the fast bulk path of ``manage.py seed_catalog``.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from apps.catalog import search, services
from apps.catalog.models import Brand, Category, MarketPrice, Product, ProductSalesDaily, Sku
from apps.catalog.selectors import market_today
from apps.core import clock
from apps.markets.selectors import market_list

DEMO_PRODUCTS = 240
DEMO_PREFIX = "D"

# top slug, ko, en, [(leaf slug, ko, en, [(noun ko, noun en, base KRW price)], option kind)]
TREE: list[tuple[str, str, str, list[tuple[str, str, str, list[tuple[str, str, int]], str]]]] = [
    (
        "fashion",
        "패션",
        "Fashion",
        [
            (
                "shoes",
                "신발",
                "Shoes",
                [
                    ("운동화", "Sneakers", 89000),
                    ("러닝화", "Running Shoes", 119000),
                    ("슬리퍼", "Slippers", 19900),
                    ("등산화", "Hiking Boots", 159000),
                ],
                "shoe",
            ),
            (
                "clothing",
                "의류",
                "Clothing",
                [
                    ("반팔 티셔츠", "T-Shirt", 19900),
                    ("후드티", "Hoodie", 49900),
                    ("청바지", "Jeans", 59000),
                    ("패딩 재킷", "Down Jacket", 189000),
                ],
                "apparel",
            ),
            (
                "bags",
                "가방",
                "Bags",
                [
                    ("백팩", "Backpack", 69000),
                    ("토트백", "Tote Bag", 39000),
                    ("크로스백", "Crossbody Bag", 45000),
                ],
                "color",
            ),
        ],
    ),
    (
        "food",
        "식품",
        "Food",
        [
            (
                "water",
                "생수·음료",
                "Water & Drinks",
                [
                    ("생수", "Mineral Water", 6900),
                    ("탄산수", "Sparkling Water", 12900),
                    ("이온음료", "Sports Drink", 15900),
                ],
                "pack",
            ),
            (
                "snacks",
                "과자·간식",
                "Snacks",
                [
                    ("감자칩", "Potato Chips", 4500),
                    ("초코 쿠키", "Chocolate Cookies", 5900),
                    ("견과류 믹스", "Mixed Nuts", 16900),
                ],
                "pack",
            ),
            (
                "fruit",
                "과일",
                "Fruit",
                [
                    ("사과", "Apples", 24900),
                    ("감귤", "Tangerines", 19900),
                    ("블루베리", "Blueberries", 12900),
                ],
                "weight",
            ),
            (
                "coffee",
                "커피·차",
                "Coffee & Tea",
                [
                    ("원두 커피", "Coffee Beans", 21000),
                    ("녹차", "Green Tea", 9900),
                    ("캡슐 커피", "Coffee Capsules", 17900),
                ],
                "pack",
            ),
        ],
    ),
    (
        "digital",
        "가전디지털",
        "Electronics",
        [
            (
                "audio",
                "음향기기",
                "Audio",
                [
                    ("무선 이어폰", "Wireless Earbuds", 129000),
                    ("블루투스 스피커", "Bluetooth Speaker", 79000),
                    ("헤드폰", "Headphones", 199000),
                ],
                "color",
            ),
            (
                "phone-acc",
                "휴대폰 액세서리",
                "Phone Accessories",
                [
                    ("고속 충전기", "Fast Charger", 25000),
                    ("보조배터리", "Power Bank", 39000),
                    ("휴대폰 케이스", "Phone Case", 15000),
                ],
                "color",
            ),
            (
                "computers",
                "컴퓨터",
                "Computers",
                [
                    ("노트북", "Laptop", 1290000),
                    ("무선 마우스", "Wireless Mouse", 29000),
                    ("기계식 키보드", "Mechanical Keyboard", 99000),
                ],
                "none",
            ),
        ],
    ),
    (
        "home",
        "생활용품",
        "Home & Living",
        [
            (
                "kitchen",
                "주방용품",
                "Kitchen",
                [
                    ("프라이팬", "Frying Pan", 39000),
                    ("텀블러", "Tumbler", 22000),
                    ("밀폐용기 세트", "Food Container Set", 29900),
                ],
                "size",
            ),
            (
                "cleaning",
                "청소용품",
                "Cleaning",
                [
                    ("세탁세제", "Laundry Detergent", 18900),
                    ("물티슈", "Wet Wipes", 12900),
                    ("주방세제", "Dish Soap", 7900),
                ],
                "pack",
            ),
            (
                "bedding",
                "침구",
                "Bedding",
                [
                    ("차렵이불", "Comforter", 89000),
                    ("베개", "Pillow", 29000),
                    ("극세사 담요", "Fleece Blanket", 35000),
                ],
                "size",
            ),
        ],
    ),
    (
        "beauty",
        "뷰티",
        "Beauty",
        [
            (
                "skincare",
                "스킨케어",
                "Skincare",
                [
                    ("수분 크림", "Moisturizing Cream", 32000),
                    ("선크림", "Sunscreen", 18000),
                    ("토너", "Toner", 21000),
                ],
                "volume",
            ),
            (
                "haircare",
                "헤어케어",
                "Hair Care",
                [("샴푸", "Shampoo", 14900), ("트리트먼트", "Hair Treatment", 16900)],
                "volume",
            ),
        ],
    ),
    (
        "sports",
        "스포츠",
        "Sports",
        [
            (
                "fitness",
                "헬스·요가",
                "Fitness",
                [
                    ("요가 매트", "Yoga Mat", 29000),
                    ("덤벨", "Dumbbell", 35000),
                    ("폼롤러", "Foam Roller", 19000),
                ],
                "color",
            ),
            (
                "camping",
                "캠핑",
                "Camping",
                [("캠핑 의자", "Camping Chair", 49000), ("텐트", "Tent", 259000), ("랜턴", "Lantern", 32000)],
                "none",
            ),
        ],
    ),
]

# Brands per top category (slug, ko, en): a shop sells sneakers from fashion brands and
# laptops from electronics makers, not the other way round. Invented names.
BRANDS: dict[str, list[tuple[str, str, str]]] = {
    "fashion": [
        ("urbanfit", "어반핏", "UrbanFit"),
        ("bluepeak", "블루피크", "Blue Peak"),
        ("monoware", "모노웨어", "Monoware"),
        ("stepup", "스텝업", "StepUp"),
        ("joopick", "주픽", "Joopick"),
    ],
    "food": [
        ("greenfarm", "그린팜", "Green Farm"),
        ("jejudam", "제주담", "Jejudam"),
        ("basak", "바삭공방", "Basak"),
        ("hanbit", "한빛", "Hanbit"),
    ],
    "digital": [
        ("nuri", "누리테크", "Nuri Tech"),
        ("sonicwave", "소닉웨이브", "SonicWave"),
        ("voltcell", "볼트셀", "VoltCell"),
        ("keycraft", "키크래프트", "KeyCraft"),
    ],
    "home": [
        ("sallim", "살림공방", "Sallim"),
        ("pogeun", "포근", "Pogeun"),
        ("cleanhaus", "클린하우스", "CleanHaus"),
        ("cookwell", "쿡웰", "Cookwell"),
    ],
    "beauty": [
        ("haneul", "하늘빛", "Haneulbit"),
        ("aquaroom", "아쿠아룸", "Aquaroom"),
        ("solip", "솔잎", "Solip"),
    ],
    "sports": [
        ("sorak", "설악", "Sorak"),
        ("campline", "캠프라인", "Campline"),
        ("fitcore", "핏코어", "FitCore"),
    ],
}
# Product lines per top category (ko, en): "어반핏 에센셜 운동화" / "UrbanFit Essential Sneakers".
LINES: dict[str, list[tuple[str, str]]] = {
    "fashion": [
        ("에센셜", "Essential"),
        ("클래식", "Classic"),
        ("컴포트", "Comfort"),
        ("스트릿", "Street"),
        ("데일리", "Everyday"),
        ("라이트", "Lightweight"),
    ],
    "food": [
        ("유기농", "Organic"),
        ("제주", "Jeju"),
        ("국산", "Korean-Grown"),
        ("프리미엄", "Premium"),
        ("저당", "Low-Sugar"),
        ("대용량", "Family-Size"),
    ],
    "digital": [
        ("프로", "Pro"),
        ("미니", "Mini"),
        ("울트라", "Ultra"),
        ("에어", "Air"),
        ("맥스", "Max"),
        ("라이트", "Lite"),
    ],
    "home": [
        ("데일리", "Everyday"),
        ("프리미엄", "Premium"),
        ("에코", "Eco"),
        ("심플", "Simple"),
        ("모던", "Modern"),
        ("베이직", "Basic"),
    ],
    "beauty": [
        ("수분", "Hydrating"),
        ("저자극", "Gentle"),
        ("비건", "Vegan"),
        ("데일리", "Daily"),
        ("약산성", "pH-Balanced"),
        ("프레시", "Fresh"),
    ],
    "sports": [
        ("프로", "Pro"),
        ("라이트", "Light"),
        ("컴팩트", "Compact"),
        ("아웃도어", "Outdoor"),
        ("베이직", "Basic"),
        ("투어", "Touring"),
    ],
}
OPTIONS: dict[str, list[dict[str, str]]] = {
    "shoe": [{"size": "240"}, {"size": "255"}, {"size": "270"}],
    "apparel": [{"size": "S"}, {"size": "M"}, {"size": "L"}],
    "color": [{"color": "Black"}, {"color": "White"}],
    "pack": [{"pack": "x6"}, {"pack": "x20"}],
    "weight": [{"weight": "1kg"}, {"weight": "3kg"}],
    "size": [{"size": "Regular"}, {"size": "Large"}],
    "volume": [{"volume": "50ml"}, {"volume": "150ml"}],
    "none": [{}],
}
PACK_FACTOR = {"x20": 3, "3kg": 2, "Large": 1.4, "150ml": 2.2, "255": 1, "L": 1.1}
KRW_PER_USD = 1385.5


def ensure_categories_and_brands() -> tuple[
    list[tuple[Category, tuple[Any, ...], str]], dict[str, list[Brand]]
]:
    """Create the demo tree and brands if missing; return (leaf, leaf spec, top slug)
    triples and the brands of each top category."""
    leaves: list[tuple[Category, tuple[Any, ...], str]] = []
    created = False
    for position, (slug, ko, en, children) in enumerate(TREE):
        top = Category.objects.filter(slug=slug).first()
        if top is None:
            top = Category.objects.create(slug=slug, name_ko=ko, name_en=en, position=position)
            created = True
        for child_position, spec in enumerate(children):
            leaf = Category.objects.filter(slug=spec[0]).first()
            if leaf is None:
                leaf = Category.objects.create(
                    slug=spec[0], name_ko=spec[1], name_en=spec[2], parent=top, position=child_position
                )
                created = True
            leaves.append((leaf, spec, slug))
    existing = {
        b.slug: b for b in Brand.objects.filter(slug__in=[b[0] for pool in BRANDS.values() for b in pool])
    }
    brands: dict[str, list[Brand]] = {}
    for top_slug, pool in BRANDS.items():
        for slug, ko, en in pool:
            brand = existing.get(slug) or Brand.objects.create(slug=slug, name_ko=ko, name_en=en)
            brands.setdefault(top_slug, []).append(brand)
    if created:
        transaction.on_commit(services.category_cache_clear)
    return leaves, brands


def _round(amount: float, step: int) -> int:
    return max(step, round(amount / step) * step)


def _name(
    product: Product,
    n: int,
    leaves: list[tuple[Category, tuple[Any, ...], str]],
    brands: dict[str, list[Brand]],
) -> None:
    """Give demo product number ``n`` its brand, names, slug, descriptions and search
    document ("어반핏 에센셜 운동화" / "UrbanFit Essential Sneakers"; never a number)."""
    leaf, spec, top_slug = leaves[n % len(leaves)]
    round_ = n // len(leaves)  # how many times this leaf came round before
    noun_ko, noun_en, _base = spec[3][round_ % len(spec[3])]
    pool, lines = brands[top_slug], LINES[top_slug]
    # the j-th time a noun comes round it gets the next brand of the pool, and after a
    # full turn of the pool the next line too: the demo's names are all distinct
    j, leaf_index = round_ // len(spec[3]), n % len(leaves)
    brand = pool[(j + leaf_index) % len(pool)]
    line_ko, line_en = lines[(j + j // len(pool) + leaf_index) % len(lines)]
    product.brand = brand
    product.name_ko = f"{brand.name_ko} {line_ko} {noun_ko}"
    product.name_en = f"{brand.name_en} {line_en} {noun_en}"
    product.slug = slugify(product.name_en)[:150] or f"product-{n + 1}"
    product.description_ko = (
        f"{brand.name_ko}의 {line_ko} {noun_ko}입니다. 매일 쓰기 좋은 품질과 빠른 로켓배송."
    )
    product.description_en = f"{brand.name_en} {line_en} {noun_en}: everyday quality, fast delivery."
    product.search_document = search.build_document(
        [
            product.name_ko,
            product.name_en,
            brand.name_ko or "",
            brand.name_en or "",
            leaf.name_ko or "",
            leaf.name_en or "",
            product.description_ko,
            product.description_en,
        ]
    )


#: Names of demo products seeded before issue 15: "<brand> <adjective> <noun> <number>".
_LEGACY_NAME = r" [0-9]+$"


def rename_legacy_products(*, prefix: str) -> int:
    """Give demo products seeded with the old numbered names ("샴푸 83") their current
    names, brands and search documents. Idempotent: only names ending in a number change,
    so a second run renames nothing. Their number comes from their SKU codes
    (``<prefix>-000083-1``), so each gets exactly the name a fresh seed would give it."""
    legacy = list(
        Product.objects.filter(name_ko__regex=_LEGACY_NAME, skus__code__startswith=f"{prefix}-")
        .distinct()
        .order_by("pk")
    )
    if not legacy:
        return 0
    leaves, brands = ensure_categories_and_brands()
    numbers: dict[int, int] = {}
    for product_id, code in Sku.objects.filter(product__in=legacy).values_list("product_id", "code"):
        parts = code.split("-")
        if len(parts) == 3 and parts[1].isdigit():
            numbers[product_id] = int(parts[1]) - 1
    renamed = [p for p in legacy if p.pk in numbers]
    for product in renamed:
        _name(product, numbers[product.pk], leaves, brands)
    fields = ["brand", "name_ko", "name_en", "slug", "description_ko", "description_en", "search_document"]
    # (listings join the product's names and brand: nothing to rewrite there)
    Product.objects.bulk_update(renamed, fields, batch_size=500)
    return len(renamed)


def generate_products(
    *, count: int, prefix: str, start: int = 0, seed: int = 4, batch: int = 2000
) -> list[int]:
    """Bulk-create ``count`` products (numbers ``start``..) with SKUs and KR/US prices.

    Deterministic for a given seed. Every 7th product has no US price (FX fallback);
    every 4th is on sale in KR, every 6th in the US; a few sales end within hours.
    Returns the new product ids. Search documents and listings are written here too.
    """
    rng = random.Random(seed + start)
    leaves, brands = ensure_categories_and_brands()
    markets = {m.code: m for m in market_list()}
    now = clock.now()
    ids: list[int] = []
    for chunk_start in range(start, start + count, batch):
        chunk_end = min(start + count, chunk_start + batch)
        products: list[Product] = []
        plans: list[tuple[int, int, str]] = []  # (number, base price, option kind)
        for n in range(chunk_start, chunk_end):
            leaf, spec, _top = leaves[n % len(leaves)]
            base = spec[3][(n // len(leaves)) % len(spec[3])][2]
            product = Product(
                category=leaf,
                max_per_order=5 if base > 500000 else 10,
                rocket_delivery=n % 3 != 0,
                is_active=True,
            )
            _name(product, n, leaves, brands)
            products.append(product)
            price = _round(base * (0.8 + rng.random() * 0.5), 100)
            plans.append((n, price, spec[4]))
        Product.objects.bulk_create(products, batch_size=1000)
        skus: list[Sku] = []
        sku_plans: list[tuple[int, int, float]] = []
        for product, (n, base, kind) in zip(products, plans, strict=True):
            for position, options in enumerate(OPTIONS[kind]):
                skus.append(
                    Sku(
                        product=product,
                        code=f"{prefix}-{n + 1:06d}-{position + 1}",
                        options=options,
                        position=position,
                    )
                )
                factor = max([PACK_FACTOR.get(v, 1.0) for v in options.values()] or [1.0])
                sku_plans.append((n, base, factor))
        Sku.objects.bulk_create(skus, batch_size=2000)
        prices: list[MarketPrice] = []
        for sku, (n, base, factor) in zip(skus, sku_plans, strict=True):
            krw = _round(base * factor, 100)
            kr = MarketPrice(sku=sku, market=markets["KR"], currency="KRW", list_price=krw)
            if n % 4 == 1:
                kr.sale_price = _round(krw * (0.7 + (n % 3) * 0.1), 10)
                kr.sale_starts_at = now - dt.timedelta(days=1)
                kr.sale_ends_at = now + (
                    dt.timedelta(hours=3 + n % 12) if n % 8 == 1 else dt.timedelta(days=5)
                )
            prices.append(kr)
            if n % 7 != 3 and "US" in markets:
                usd = _round(krw / KRW_PER_USD * 100 * 1.08, 1) - 1  # x.99 style
                usd = max(99, usd - usd % 100 + 99)
                us = MarketPrice(sku=sku, market=markets["US"], currency="USD", list_price=usd)
                if n % 6 == 2:
                    us.sale_price = _round(usd * 0.8, 1)
                    us.sale_starts_at = now - dt.timedelta(hours=2)
                    us.sale_ends_at = now + dt.timedelta(hours=5 + n % 30)
                prices.append(us)
        MarketPrice.objects.bulk_create(prices, batch_size=2000)
        chunk_ids = [p.pk for p in products]
        services.listings_refresh(product_ids=chunk_ids, now=now)
        ids.extend(chunk_ids)
    return ids


def seed_sales(*, product_ids: list[int], seed: int = 7) -> int:
    """Some sales over the last 3 market-local days so "popular" has content."""
    rng = random.Random(seed)
    rows = []
    for market in market_list():
        today = market_today(market)
        chosen = rng.sample(product_ids, min(30, len(product_ids)))
        for rank, pid in enumerate(chosen):
            for back in range(3):
                rows.append(
                    ProductSalesDaily(
                        product_id=pid,
                        market=market,
                        date=today - dt.timedelta(days=back),
                        units=max(1, 60 - rank * 2 + rng.randint(0, 5)),
                    )
                )
    ProductSalesDaily.objects.bulk_create(rows, ignore_conflicts=True)
    services.popularity_refresh()
    return len(rows)


def seed(*, stdout: Any) -> list[str]:
    """Idempotent: creates the demo catalog once (skips when demo SKUs exist)."""
    with transaction.atomic():
        ensure_categories_and_brands()
        if Sku.objects.filter(code__startswith=f"{DEMO_PREFIX}-").exists():
            renamed = rename_legacy_products(prefix=DEMO_PREFIX)
            if renamed:
                stdout.write(f"catalog: {renamed} demo products renamed (no more numbered names)")
            return []
        ids = generate_products(count=DEMO_PRODUCTS, prefix=DEMO_PREFIX)
        seed_sales(product_ids=ids)
    stdout.write(f"catalog: {len(ids)} demo products in {Category.objects.count()} categories")
    return []
