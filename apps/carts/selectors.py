"""Cart reads: find a cart (guest token, member), and show it priced in a market.

Prices always come from the catalog at read time (explicit market price, else FX from
the base market; a running sale applies), never from the client or the cart row. A line
whose SKU is withdrawn, has no price, or has no stock pool in the market is kept but flagged
(``available: False`` with ``issue``) and left out of the totals; so is a sold-out line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from apps.carts.calculators import shipping_calculator, tax_calculator
from apps.carts.models import Cart, CartLine
from apps.catalog import pricing
from apps.catalog.models import MarketPrice, Sku
from apps.core import clock
from apps.core.errors import DomainError
from apps.core.money import Money
from apps.inventory.selectors import available_by_sku_codes
from apps.markets.models import Market

#: ``issue`` codes a line can carry (the same codes as the errors an add would raise).
ISSUE_UNAVAILABLE = "cart.sku_unavailable"
ISSUE_STOCK = "inventory.insufficient_stock"
ISSUE_LIMIT = "cart.purchase_limit_exceeded"


def token_hash(token: str) -> str:
    """What is stored for a guest token: its SHA-256, hex. A 256-bit random token needs no
    salt or slow hash (nobody can guess one to test against the hash)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def guest_cart_get(*, token: str, now: dt.datetime | None = None) -> Cart | None:
    """The unexpired guest cart of ``token``, or None (unknown, expired or malformed)."""
    if not token or len(token) > 200:
        return None
    now = now or clock.now()
    return (
        Cart.objects.select_related("market")
        .filter(token_hash=token_hash(token), user__isnull=True, expires_at__gt=now)
        .first()
    )


def member_cart_get(*, user_id: int) -> Cart | None:
    return Cart.objects.select_related("market").filter(user_id=user_id).first()


# --- Offers: what the catalog and inventory say about SKUs in a market -------------------


@dataclass(frozen=True, slots=True)
class SkuOffer:
    """A SKU as the cart sees it in one market. ``sold`` False: not for sale there
    (unknown, withdrawn, no price, no stock pool in the market)."""

    code: str
    sku_id: int | None
    product_id: int | None
    name: str
    max_per_order: int
    price: pricing.EffectivePrice | None
    available: int
    sold: bool


def sku_offers(*, codes: list[str], market: Market, now: dt.datetime | None = None) -> dict[str, SkuOffer]:
    """``{code: SkuOffer}`` for every code asked (unknown codes come back not sold).

    Three queries: SKUs with their products, their prices in every market, availability."""
    now = now or clock.now()
    codes = list(dict.fromkeys(codes))
    skus = {
        s.code: s
        for s in Sku.objects.select_related("product", "product__category").filter(code__in=codes).order_by()
    }
    rows: dict[int, dict[str, pricing.PriceRow]] = {}
    if skus:
        for mp in MarketPrice.objects.filter(sku_id__in=[s.pk for s in skus.values()]).values_list(
            "sku_id", "market_id", "currency", "list_price", "sale_price", "sale_starts_at", "sale_ends_at"
        ):
            rows.setdefault(mp[0], {})[mp[1]] = pricing.PriceRow(*mp[2:])
    stock = available_by_sku_codes(codes=list(skus), market_code=market.code)
    offers: dict[str, SkuOffer] = {}
    for code in codes:
        sku = skus.get(code)
        if sku is None:
            offers[code] = SkuOffer(code, None, None, code, 0, None, 0, False)
            continue
        product = sku.product
        price = None
        try:
            resolved = pricing.resolve_row(rows.get(sku.pk, {}), market)
        except DomainError:  # market.fx_rate_unavailable: not priceable here now
            resolved = None
        if resolved is not None:
            price = pricing.effective(resolved[0], now, from_fx=resolved[1])
        sold = bool(
            sku.is_active
            and product.is_active
            and product.category.is_active
            and price is not None
            and code in stock
        )
        offers[code] = SkuOffer(
            code=code,
            sku_id=sku.pk,
            product_id=product.pk,
            name=product.name,
            max_per_order=product.max_per_order,
            price=price,
            available=max(stock.get(code, 0), 0),
            sold=sold,
        )
    return offers


# --- The cart as shown ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartLineView:
    sku: str
    product_id: int | None
    name: str
    quantity: int
    unit_price: Money | None
    list_price: Money | None
    line_total: Money | None
    #: False: left out of the totals (``issue`` says why).
    available: bool
    max_per_order: int | None
    #: Units available in the market now (a hint; the cart reserves nothing).
    stock: int
    issue: str | None = None


@dataclass
class CartView:
    cart: Cart | None
    market: Market
    lines: list[CartLineView] = field(default_factory=list)

    @property
    def id(self) -> str | None:
        return str(self.cart.public_id) if self.cart is not None else None

    @property
    def item_count(self) -> int:
        """Units in the cart (the header's mini-cart count)."""
        return sum(line.quantity for line in self.lines)

    @property
    def line_count(self) -> int:
        return len(self.lines)


def _line_view(line_sku: str, quantity: int, offer: SkuOffer) -> CartLineView:
    if not offer.sold or offer.price is None:
        return CartLineView(
            line_sku,
            offer.product_id,
            offer.name,
            quantity,
            None,
            None,
            None,
            False,
            offer.max_per_order or None,
            offer.available,
            ISSUE_UNAVAILABLE,
        )
    issue = None
    available = True
    if offer.available <= 0:
        issue, available = ISSUE_STOCK, False
    elif quantity > offer.available:
        issue = ISSUE_STOCK
    elif quantity > offer.max_per_order:
        issue = ISSUE_LIMIT
    return CartLineView(
        sku=line_sku,
        product_id=offer.product_id,
        name=offer.name,
        quantity=quantity,
        unit_price=offer.price.price,
        list_price=offer.price.list_price,
        line_total=offer.price.price * quantity,
        available=available,
        max_per_order=offer.max_per_order,
        stock=offer.available,
        issue=issue,
    )


def cart_get(*, cart: Cart | None, market: Market, now: dt.datetime | None = None) -> CartView:
    """``cart`` priced in ``market`` (the request's; it may differ from ``cart.market``:
    the lines are kept and repriced). ``cart`` None: the empty cart. Four queries (lines,
    SKUs with products, prices, availability), whatever the number of lines."""
    if cart is None:
        return CartView(None, market)
    lines = list(CartLine.objects.filter(cart_id=cart.pk).select_related("sku").order_by("added_at", "id"))
    offers = sku_offers(codes=[line.sku.code for line in lines], market=market, now=now)
    return CartView(
        cart, market, [_line_view(line.sku.code, line.quantity, offers[line.sku.code]) for line in lines]
    )


def lines_view(*, lines: list[tuple[str, int]], market: Market, now: dt.datetime | None = None) -> CartView:
    """Explicit ``(sku, quantity)`` lines priced like a cart's (an order placed without the
    cart). Quantities of a repeated SKU are summed. Three queries."""
    wanted: dict[str, int] = {}
    for code, quantity in lines:
        wanted[code] = wanted.get(code, 0) + quantity
    offers = sku_offers(codes=list(wanted), market=market, now=now)
    return CartView(None, market, [_line_view(code, qty, offers[code]) for code, qty in wanted.items()])


def cart_count(*, cart: Cart | None) -> int:
    """Units in the cart, one query (the header's mini-cart; no pricing)."""
    if cart is None:
        return 0
    return sum(CartLine.objects.filter(cart_id=cart.pk).values_list("quantity", flat=True))


# --- Totals -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CouponCheck:
    valid: bool
    code: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CartTotals:
    #: List prices x quantities of the lines that count.
    subtotal: Money
    #: Sale discounts (list - effective price) x quantities.
    discount: Money
    #: What the shopper pays for the goods: subtotal - discount.
    merchandise: Money
    estimated_tax: Money
    #: True (KR): the tax is inside the prices, shown not added.
    tax_included: bool
    shipping_fee: Money
    free_shipping_remaining: Money
    free_shipping_threshold: Money
    total: Money
    coupon: CouponCheck | None


def coupon_check(*, coupon_id: str | None) -> CouponCheck | None:
    """Pre-check of a coupon for the totals. Until the coupons app exists no coupon is
    found: ``valid False, reason coupon.not_found`` (a 200 answer, not a problem)."""
    if coupon_id is None:
        return None
    return CouponCheck(valid=False, reason="coupon.not_found")


def cart_totals(*, view: CartView, coupon_id: str | None = None) -> CartTotals:
    """The totals of a priced cart in its market, through the market's calculators.

    total = subtotal - discount + (tax when added) + shipping_fee. No query."""
    market = view.market
    currency = market.currency
    counted = [line for line in view.lines if line.available and line.line_total is not None]
    subtotal = Money.sum([line.list_price * line.quantity for line in counted if line.list_price], currency)
    merchandise = Money.sum([line.line_total for line in counted if line.line_total], currency)
    discount = subtotal - merchandise
    tax = tax_calculator(market).estimate(market=market, taxable=merchandise)
    shipping = shipping_calculator(market).quote(market=market, merchandise=merchandise)
    total = merchandise + shipping.fee + (Money.zero(currency) if tax.included else tax.amount)
    return CartTotals(
        subtotal=subtotal,
        discount=discount,
        merchandise=merchandise,
        estimated_tax=tax.amount,
        tax_included=tax.included,
        shipping_fee=shipping.fee,
        free_shipping_remaining=shipping.free_shipping_remaining,
        free_shipping_threshold=shipping.threshold,
        total=total,
        coupon=coupon_check(coupon_id=coupon_id),
    )
