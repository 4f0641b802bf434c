"""Catalog tables: categories, brands, products, SKUs, per-market prices, and the
per-market listing row that product lists sort, filter and page on.

Names and descriptions are translated by django-modeltranslation (``translation.py``):
``name_ko``/``name_en`` columns, ``name`` reads the active language with fallback.
Nothing happens in ``save()``: services keep the search document and listings in sync.
"""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    """A node of the category tree (two levels in practice; any depth works)."""

    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    # Added by modeltranslation (translation.py); declared for type checkers. So are the
    # managers, whose class modeltranslation builds at runtime (reverse managers need both).
    name_ko: str | None
    name_en: str | None
    objects: ClassVar[models.Manager[Category]]
    _default_manager: ClassVar[models.Manager[Category]]

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name


class Brand(models.Model):
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=120)
    name_ko: str | None
    name_en: str | None
    objects: ClassVar[models.Manager[Brand]]

    class Meta:
        ordering = ["slug"]
        verbose_name = _("brand")
        verbose_name_plural = _("brands")

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    slug = models.SlugField(_("slug"), max_length=160)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    name_ko: str | None
    name_en: str | None
    description_ko: str | None
    description_en: str | None
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="products"
    )
    brand = models.ForeignKey(
        Brand,
        verbose_name=_("brand"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="products",
    )
    image_url = models.CharField(
        _("image URL"), max_length=500, blank=True, help_text=_("Empty: a generated image is shown.")
    )
    max_per_order = models.PositiveIntegerField(
        _("maximum per order"), default=10, validators=[MinValueValidator(1)]
    )
    rocket_delivery = models.BooleanField(_("rocket delivery"), default=False)
    is_featured = models.BooleanField(_("featured"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    #: Space-separated search tokens (Korean bigrams, English words); written by services.
    search_document = models.TextField(_("search document"), blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # modeltranslation's runtime manager class, declared for type checkers (see Category).
    objects: ClassVar[models.Manager[Product]]
    _default_manager: ClassVar[models.Manager[Product]]

    class Meta:
        ordering = ["-id"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_per_order__gte=1), name="catalog_product_max_per_order_pos"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def image(self) -> str:
        return self.image_url or f"/p/{self.pk}/image.svg"


class Sku(models.Model):
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="skus"
    )
    code = models.CharField(_("SKU code"), max_length=64, unique=True)
    options = models.JSONField(_("option values"), default=dict, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["product_id", "position", "id"]
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")

    def __str__(self) -> str:
        return self.code


class MarketPrice(models.Model):
    """A SKU's price in one market, in integer minor units of the market's currency.

    Without a row for a market the price falls back to an FX conversion of another
    market's price (``selectors.sku_prices``)."""

    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="prices")
    market = models.ForeignKey(
        "markets.Market", verbose_name=_("market"), on_delete=models.PROTECT, related_name="catalog_prices"
    )
    currency = models.CharField(_("currency"), max_length=3)
    list_price = models.BigIntegerField(_("list price (minor units)"))
    sale_price = models.BigIntegerField(_("sale price (minor units)"), null=True, blank=True)
    sale_starts_at = models.DateTimeField(_("sale starts at"), null=True, blank=True)
    sale_ends_at = models.DateTimeField(_("sale ends at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("market price")
        verbose_name_plural = _("market prices")
        constraints = [
            models.UniqueConstraint(fields=["sku", "market"], name="catalog_marketprice_sku_market_uniq"),
            models.CheckConstraint(condition=Q(list_price__gte=0), name="catalog_marketprice_list_nonneg"),
            models.CheckConstraint(
                condition=Q(sale_price__isnull=True)
                | (Q(sale_price__gte=0) & Q(sale_price__lte=F("list_price"))),
                name="catalog_marketprice_sale_range",
            ),
            models.CheckConstraint(
                condition=Q(sale_starts_at__isnull=True)
                | Q(sale_ends_at__isnull=True)
                | Q(sale_starts_at__lt=F("sale_ends_at")),
                name="catalog_marketprice_sale_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.market_id}: {self.list_price} {self.currency}"


class ProductListing(models.Model):
    """One row per (product, market): the denormalized keys product lists filter, sort
    and keyset-page on (effective price, popularity, newest), plus the prices of the
    cheapest SKU so a summary needs no per-product query.

    Written only by ``services.listings_refresh``; ``price`` is the effective price at
    refresh time and ``price_valid_until`` the next sale boundary, after which the beat
    task refreshes it. Summaries compute the shown price from the stored list/sale
    fields at request time, so a display is never stale; only the sort key may lag by
    the task interval.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="listings")
    market = models.ForeignKey("markets.Market", on_delete=models.CASCADE, related_name="catalog_listings")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(default=True)
    currency = models.CharField(max_length=3)
    price = models.BigIntegerField()
    list_price = models.BigIntegerField()
    sale_price = models.BigIntegerField(null=True, blank=True)
    sale_starts_at = models.DateTimeField(null=True, blank=True)
    sale_ends_at = models.DateTimeField(null=True, blank=True)
    price_valid_until = models.DateTimeField(null=True, blank=True)
    from_fx = models.BooleanField(default=False)
    popularity = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("product listing")
        verbose_name_plural = _("product listings")
        constraints = [
            models.UniqueConstraint(fields=["product", "market"], name="catalog_listing_product_market_uniq"),
        ]
        indexes = [
            models.Index(fields=["market", "is_active", "price", "product"], name="catalog_lst_price_idx"),
            models.Index(
                fields=["market", "is_active", "-popularity", "product"], name="catalog_lst_pop_idx"
            ),
            models.Index(
                fields=["market", "is_active", "-created_at", "-product"], name="catalog_lst_new_idx"
            ),
            models.Index(
                fields=["market", "category", "is_active", "price", "product"],
                name="catalog_lst_cat_price_idx",
            ),
            models.Index(
                fields=["market", "category", "is_active", "-popularity", "product"],
                name="catalog_lst_cat_pop_idx",
            ),
            models.Index(
                fields=["market", "category", "is_active", "-created_at", "-product"],
                name="catalog_lst_cat_new_idx",
            ),
            models.Index(fields=["price_valid_until"], name="catalog_lst_valid_until_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.market_id}"


class ProductSalesDaily(models.Model):
    """Units of a product sold in paid orders per market-local day (fed by the order flow)."""

    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="sales_daily"
    )
    market = models.ForeignKey(
        "markets.Market",
        verbose_name=_("market"),
        on_delete=models.CASCADE,
        related_name="catalog_sales_daily",
    )
    date = models.DateField(_("date (market-local)"))
    units = models.PositiveIntegerField(_("units"), default=0)

    class Meta:
        verbose_name = _("daily product sales")
        verbose_name_plural = _("daily product sales")
        constraints = [
            models.UniqueConstraint(fields=["product", "market", "date"], name="catalog_sales_daily_uniq"),
        ]
        indexes = [models.Index(fields=["market", "date"], name="catalog_sales_market_date_idx")]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.market_id} {self.date}: {self.units}"
