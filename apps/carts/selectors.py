"""Cart reads: find a cart (guest token, member), and show it priced in a market.

Prices always come from the catalog at read time (explicit market price, else FX from
the base market; a running sale applies), never from the client or the cart row. A line
whose SKU is withdrawn, has no price, or has no stock pool in the market is kept but flagged
(``available: False`` with ``issue``) and left out of the totals; so is a sold-out line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from apps.carts.calculators import shipping_calculator, tax_calculator
from apps.carts.models import Cart, CartLine
from apps.catalog import pricing
from apps.catalog.models import MarketPrice, Sku
from apps.catalog.presenters import localized, name_order
from apps.core import clock
from apps.core.compiled import Compiled
from apps.core.errors import DomainError
from apps.core.money import Money
from apps.coupons.errors import CouponNotFound, NotApplicable
from apps.coupons.models import Coupon
from apps.coupons.services.checkout import PricedLine, coupon_price
from apps.inventory.selectors import available_by_sku_codes
from apps.markets.models import Market
from apps.markets.selectors import market_map

#: ``issue`` codes a line can carry (the same codes as the errors an add would raise).
ISSUE_UNAVAILABLE = "cart.sku_unavailable"
ISSUE_STOCK = "inventory.insufficient_stock"
ISSUE_LIMIT = "cart.purchase_limit_exceeded"


def token_hash(token: str) -> str:
    """What is stored for a guest token: its SHA-256, hex. A 256-bit random token needs no
    salt or slow hash (nobody can guess one to test against the hash)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def with_market(cart: Cart | None) -> Cart | None:
    """``cart`` with its market from the per-process markets map (configuration, cached;
    ``apps.markets.selectors``) instead of a join of the market's every column; a market
    not in the map (inactive) is read."""
    if cart is not None:
        market = market_map().get(cart.market_id)
        if market is not None:
            cart.market = market
    return cart


def guest_cart_get(*, token: str, now: dt.datetime | None = None) -> Cart | None:
    """The unexpired guest cart of ``token``, or None (unknown, expired or malformed)."""
    if not token or len(token) > 200:
        return None
    return with_market(_GUEST_CART.first(token_hash=token_hash(token), now=now or clock.now()))


# Every guest cart request reads it (the API's X-Cart-Token, the storefront's cookie).
_GUEST_CART = Compiled(
    Cart,
    lambda p: Cart.objects.filter(token_hash=p.token_hash, user__isnull=True, expires_at__gt=p.now).order_by(
        "pk"
    )[:1],
)


_MEMBER_CART = Compiled(Cart, lambda p: Cart.objects.filter(user_id=p.user_id).order_by("pk")[:1])


def member_cart_get(*, user_id: int) -> Cart | None:
    return with_market(_MEMBER_CART.first(user_id=user_id))


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
    category_id: int | None = None
    #: The product's name in Korean and in English, each falling back to the other (what
    #: an order's line snapshot keeps).
    names: tuple[str, str] = ("", "")


#: The SKUs asked, with what an offer reads of their products and categories, as tuples
#: (a cart or a checkout prices up to 50 lines: three model instances per line cost more
#: than the rest of the offer); their prices in every market.
_OFFER_SKUS = Compiled(
    Sku,
    lambda p: (
        Sku.objects.filter(code__in=p.codes)
        .order_by()
        .values_list(
            "id",
            "code",
            "is_active",
            "product_id",
            "product__name_ko",
            "product__name_en",
            "product__is_active",
            "product__max_per_order",
            "product__category_id",
            "product__category__is_active",
        )
    ),
)
_OFFER_PRICES = Compiled(
    MarketPrice,
    lambda p: MarketPrice.objects.filter(sku_id__in=p.sku_ids).values_list(
        "sku_id", "market_id", "currency", "list_price", "sale_price", "sale_starts_at", "sale_ends_at"
    ),
)

#: ``SkuOffer.available`` when availability was not read (``with_stock=False``).
STOCK_NOT_READ = 2**31 - 1


def sku_offers(
    *, codes: list[str], market: Market, now: dt.datetime | None = None, with_stock: bool = True
) -> dict[str, SkuOffer]:
    """``{code: SkuOffer}`` for every code asked (unknown codes come back not sold).

    Three queries: SKUs with their products, their prices in every market, availability.
    ``with_stock=False``: two (no availability; ``available`` is ``STOCK_NOT_READ`` and a
    SKU without stock in the market still counts as sold), for a caller whose reserve
    judges the stock anyway (an order's placement)."""
    now = now or clock.now()
    codes = list(dict.fromkeys(codes))
    skus = {row[1]: row for row in _OFFER_SKUS.fetch(codes=codes)}
    rows: dict[int, dict[str, pricing.PriceRow]] = {}
    if skus:
        for mp in _OFFER_PRICES.fetch(sku_ids=[row[0] for row in skus.values()]):
            rows.setdefault(mp[0], {})[mp[1]] = pricing.PriceRow(*mp[2:])
    stock = available_by_sku_codes(codes=list(skus), market_code=market.code) if with_stock else None
    order = name_order()
    offers: dict[str, SkuOffer] = {}
    for code in codes:
        sku = skus.get(code)
        if sku is None:
            offers[code] = SkuOffer(code, None, None, code, 0, None, 0, False)
            continue
        (
            sku_id,
            _code,
            sku_active,
            product_id,
            name_ko,
            name_en,
            product_active,
            limit,
            category_id,
            category_active,
        ) = sku
        price = None
        try:
            resolved = pricing.resolve_row(rows.get(sku_id, {}), market)
        except DomainError:  # market.fx_rate_unavailable: not priceable here now
            resolved = None
        if resolved is not None:
            price = pricing.effective(resolved[0], now, from_fx=resolved[1])
        sold = bool(
            sku_active
            and product_active
            and category_active
            and price is not None
            and (stock is None or code in stock)
        )
        offers[code] = SkuOffer(
            code=code,
            sku_id=sku_id,
            product_id=product_id,
            name=localized(order, name_ko, name_en),
            max_per_order=limit,
            price=price,
            available=STOCK_NOT_READ if stock is None else max(stock.get(code, 0), 0),
            sold=sold,
            category_id=category_id,
            names=(name_ko or name_en or "", name_en or name_ko or ""),
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
    #: The product's category (what a coupon's category rule reads).
    category_id: int | None = None
    sku_id: int | None = None
    #: (Korean, English) product name (``SkuOffer.names``).
    names: tuple[str, str] = ("", "")


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
            offer.category_id,
            offer.sku_id,
            offer.names,
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
        category_id=offer.category_id,
        sku_id=offer.sku_id,
        names=offer.names,
    )


def cart_get(*, cart: Cart | None, market: Market, now: dt.datetime | None = None) -> CartView:
    """``cart`` priced in ``market`` (the request's; it may differ from ``cart.market``:
    the lines are kept and repriced). ``cart`` None: the empty cart. Four queries (lines,
    SKUs with products, prices, availability), whatever the number of lines."""
    if cart is None:
        return CartView(None, market)
    lines = list(
        CartLine.objects.filter(cart_id=cart.pk)
        .order_by("added_at", "id")
        .values_list("sku__code", "quantity")
    )
    offers = sku_offers(codes=[code for code, _quantity in lines], market=market, now=now)
    return cart_view_priced(cart=cart, market=market, lines=lines, offers=offers)


def cart_view_priced(
    *, cart: Cart, market: Market, lines: list[tuple[str, int]], offers: dict[str, SkuOffer]
) -> CartView:
    """The cart's ``(sku, quantity)`` lines (in cart order) priced with ``offers`` already
    read (``sku_offers``, e.g. by the service that just changed the cart). No query."""
    return CartView(cart, market, [_line_view(code, quantity, offers[code]) for code, quantity in lines])


def member_cart_lines(*, user_id: int) -> list[tuple[str, int]]:
    """The member's cart as ``(sku, quantity)`` lines in cart order, one query (no cart
    row: an order placed from the cart needs only its lines)."""
    return _MEMBER_CART_LINES.fetch(user_id=user_id)


_MEMBER_CART_LINES = Compiled(
    CartLine,
    lambda p: (
        CartLine.objects.filter(cart__user_id=p.user_id)
        .order_by("added_at", "id")
        .values_list("sku__code", "quantity")
    ),
)


def lines_view(
    *, lines: list[tuple[str, int]], market: Market, now: dt.datetime | None = None, with_stock: bool = True
) -> CartView:
    """Explicit ``(sku, quantity)`` lines priced like a cart's (an order placed without the
    cart, or from its lines). Quantities of a repeated SKU are summed. Three queries; two
    ``with_stock=False`` (see ``sku_offers``)."""
    wanted: dict[str, int] = {}
    for code, quantity in lines:
        wanted[code] = wanted.get(code, 0) + quantity
    offers = sku_offers(codes=list(wanted), market=market, now=now, with_stock=with_stock)
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
    #: The coupon's id as asked (its ``public_id``) when it was found.
    code: str | None = None
    #: Invalid: ``coupon.not_found``, or the ``coupon.not_applicable`` sub-reason
    #: (``min_order_amount``, ``no_eligible_items``, ``expired``, ...).
    reason: str | None = None
    #: Valid: what the coupon takes off the goods (rounded down per the market).
    discount: Money | None = None
    #: Invalid: the reason in the request's language (for the page).
    message: str | None = None


@dataclass(frozen=True, slots=True)
class CartTotals:
    #: List prices x quantities of the lines that count.
    subtotal: Money
    #: Sale discounts (list - effective price) x quantities.
    discount: Money
    #: What the shopper pays for the goods: subtotal - discount (before a coupon).
    merchandise: Money
    #: On the goods after the coupon (KR: the VAT inside them; US: added).
    estimated_tax: Money
    #: True (KR): the tax is inside the prices, shown not added.
    tax_included: bool
    #: From the merchandise before the coupon (a coupon never makes shipping cost more).
    shipping_fee: Money
    free_shipping_remaining: Money
    free_shipping_threshold: Money
    total: Money
    coupon: CouponCheck | None
    #: What a valid coupon takes off (0 without one).
    coupon_discount: Money | None = None


def coupon_check(
    *,
    coupon_id: str | None,
    user: Any = None,
    view: CartView | None = None,
    now: dt.datetime | None = None,
) -> CouponCheck | None:
    """Pre-check of a member's coupon against the cart's counted lines (the same pricing
    an order applies: ``coupons.services.coupon_price``). A 200 answer either way, never a
    problem: ``valid False`` with ``coupon.not_found`` (unknown, someone else's, or a
    guest) or the ``coupon.not_applicable`` sub-reason. Reads only: nothing is held.

    Queries: none for a guest; the coupon with its campaign, then the campaign's market and
    rules (about five)."""
    if coupon_id is None:
        return None
    not_found = CouponCheck(valid=False, reason=CouponNotFound.code)
    if view is None or user is None or not getattr(user, "is_authenticated", False):
        return not_found
    try:
        key = uuid.UUID(str(coupon_id))
    except ValueError:
        return not_found
    coupon = Coupon.objects.select_related("campaign").filter(public_id=key, user_id=user.pk).first()
    if coupon is None:
        return not_found
    lines = [
        PricedLine(line.product_id, line.category_id, line.line_total.amount)
        for line in view.lines
        if line.available and line.line_total is not None and line.product_id is not None
    ]
    code = str(coupon.public_id)
    try:
        priced = coupon_price(coupon=coupon, market=view.market, lines=lines, now=now)
    except NotApplicable as exc:
        return CouponCheck(
            valid=False, code=code, reason=str(exc.params.get("reason", "")), message=exc.detail
        )
    return CouponCheck(valid=True, code=code, discount=Money(priced.discount, view.market.currency))


def cart_totals(
    *, view: CartView, coupon_id: str | None = None, user: Any = None, now: dt.datetime | None = None
) -> CartTotals:
    """The totals of a priced cart in its market, through the market's calculators.

    total = merchandise - coupon discount + (tax when added) + shipping_fee; the tax is
    estimated on the goods after the coupon (US: added on them; KR: the VAT inside them).
    No query without ``coupon_id`` (see ``coupon_check`` for one)."""
    market = view.market
    currency = market.currency
    counted = [line for line in view.lines if line.available and line.line_total is not None]
    subtotal = Money.sum([line.list_price * line.quantity for line in counted if line.list_price], currency)
    merchandise = Money.sum([line.line_total for line in counted if line.line_total], currency)
    discount = subtotal - merchandise
    coupon = coupon_check(coupon_id=coupon_id, user=user, view=view, now=now)
    coupon_discount = coupon.discount if coupon is not None and coupon.discount is not None else None
    goods = merchandise - coupon_discount if coupon_discount is not None else merchandise
    tax = tax_calculator(market).estimate(market=market, taxable=goods)
    shipping = shipping_calculator(market).quote(market=market, merchandise=merchandise)
    total = goods + shipping.fee + (Money.zero(currency) if tax.included else tax.amount)
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
        coupon=coupon,
        coupon_discount=coupon_discount,
    )
