"""Placing an order: validate, price and snapshot, split the order-level amounts over the
lines, reserve the stock, record it ``PENDING`` with its pay-by time — one transaction,
idempotent by the member's key (DESIGN.md §7 "Checkout")."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.db import IntegrityError, connection, transaction
from django.db.models import Max

from apps.accounts.models import User
from apps.accounts.services import address_clean
from apps.carts import selectors as cart_selectors
from apps.carts.calculators import tax_calculator
from apps.carts.errors import PurchaseLimitExceeded, SkuUnavailable
from apps.core import clock
from apps.core.compiled import insert, insert_many
from apps.core.errors import DomainError, IdempotencyKeyReused
from apps.core.money import Money
from apps.core.outbox import publish
from apps.coupons import services as coupons
from apps.coupons.errors import NOT_APPLICABLE_REASONS, NotApplicable
from apps.inventory.errors import InsufficientStock
from apps.inventory.selectors import available_by_sku_codes
from apps.inventory.services.reservations import reservation_expires_at, reservation_hold
from apps.markets.models import Market
from apps.orders import metrics
from apps.orders.allocation import allocate
from apps.orders.errors import AddressRequired, OrderEmpty, OrderItemsInvalid
from apps.orders.models import Order, OrderLine, OrderStatusChange
from apps.orders.services.common import MEMBER, key_hash, order_event_payload, order_shaped

logger = structlog.get_logger("apps.orders")

#: PostgreSQL sequence behind the readable order numbers (created by orders/0002).
NUMBER_SEQUENCE = "orders_order_number_seq"
MAX_LINES = 50
QUANTITY_MAX = 999
REQUIRED_ADDRESS_KEYS = ("recipient", "line1", "city", "postal_code", "country")


@dataclass(frozen=True)
class Placed:
    #: A new order comes with its lines and history in place (``order_shaped``): its JSON
    #: needs no re-read. A retry's order is as stored (read it for the answer).
    order: Order
    #: False: the key had already placed this order (a retry); nothing new happened.
    created: bool


def request_fingerprint(*, items: Any, from_cart: bool, coupon_id: str | None, address: Any) -> str:
    payload = json.dumps(
        {"items": items, "from_cart": from_cart, "coupon": coupon_id, "address": address},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _clean_items(items: Any) -> list[tuple[str, int]]:
    if not isinstance(items, list) or not items or len(items) > MAX_LINES:
        raise OrderItemsInvalid()
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise OrderItemsInvalid()
        sku, quantity = item.get("sku"), item.get("quantity")
        if not isinstance(sku, str) or not 1 <= len(sku) <= 64:
            raise OrderItemsInvalid()
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= QUANTITY_MAX:
            raise OrderItemsInvalid()
        out.append((sku, quantity))
    return out


def _clean_address(address: Any) -> dict[str, str]:
    cleaned = address_clean(address) if isinstance(address, dict) else None
    if cleaned is None or any(not cleaned.get(key) for key in REQUIRED_ADDRESS_KEYS):
        raise AddressRequired()
    if any(len(value) > 200 for value in cleaned.values()):
        raise AddressRequired()
    country = cleaned["country"].upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise AddressRequired()
    cleaned["country"] = country
    return cleaned


def _next_number(market: Market, now: dt.datetime) -> str:
    """``KR-20261130-000123``: market, market-local date, a global sequence. A sequence
    (not a per-day counter row) so that concurrent checkouts never queue on one hot row."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [NUMBER_SEQUENCE])
            seq = int(cursor.fetchone()[0])
    else:  # SQLite: the write transaction holds the database lock, no one takes the same
        seq = int(Order.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
    local = now.astimezone(ZoneInfo(market.time_zone))
    return f"{market.code}-{local:%Y%m%d}-{seq:06d}"


def _priced_lines(
    *, user: User, market: Market, items: list[tuple[str, int]] | None
) -> tuple[cart_selectors.CartView, cart_selectors.CartTotals]:
    # Priced without reading availability: the reserve below judges the stock (and a SKU
    # with no stock in the market is told apart there, see ``_hold``).
    if items is None:
        items = cart_selectors.member_cart_lines(user_id=user.pk)
    view = cart_selectors.lines_view(lines=items, market=market, with_stock=False)
    if not view.lines:
        raise OrderEmpty()
    for line in view.lines:
        if line.issue == cart_selectors.ISSUE_UNAVAILABLE or line.unit_price is None:
            raise SkuUnavailable(sku=line.sku)
        if line.issue == cart_selectors.ISSUE_LIMIT or (
            line.max_per_order is not None and line.quantity > line.max_per_order
        ):
            raise PurchaseLimitExceeded(sku=line.sku, limit=line.max_per_order)
    # Lines short of stock are still priced here; the reserve below is the judge.
    counted = [
        cart_selectors.CartLineView(**{**_as_dict(line), "available": True, "issue": None})
        for line in view.lines
    ]
    view = cart_selectors.CartView(view.cart, market, counted)
    return view, cart_selectors.cart_totals(view=view)


def _as_dict(line: cart_selectors.CartLineView) -> dict[str, Any]:
    return {name: getattr(line, name) for name in line.__slots__}


class _KeyTaken(Exception):
    """The order's unique key was taken (inside ``_order_place``; its transaction rolls back)."""


@metrics.counts_placement
def order_place(
    *,
    user: User,
    market: Market,
    idempotency_key: str,
    items: Any = None,
    from_cart: bool = False,
    coupon_id: str | None = None,
    shipping_address: Any = None,
) -> Placed:
    """Place an order of ``items`` (``[{"sku", "quantity"}]``) or of the member's cart.

    The key is a unique column of the order, so even a request taken over after a crash
    can never create a second order: the same key returns the first order (``created``
    False); the same key with another request is ``idempotency.key_reused``.

    Locks: the stock rows of the reserve (inventory, pk order), then the coupon's row.
    Raises: order.items_invalid, order.empty, order.address_required, cart.sku_unavailable,
    cart.purchase_limit_exceeded, coupon.not_found, coupon.not_applicable,
    inventory.insufficient_stock,
    idempotency.key_reused.
    Emits: order.created (and inventory.reserved), same transaction.
    """
    fingerprint = request_fingerprint(
        items=items, from_cart=from_cart, coupon_id=coupon_id, address=shipping_address
    )
    hashed = key_hash(idempotency_key)
    try:
        return _order_place(
            user=user,
            market=market,
            hashed=hashed,
            fingerprint=fingerprint,
            items=items,
            from_cart=from_cart,
            coupon_id=coupon_id,
            shipping_address=shipping_address,
        )
    except (_KeyTaken, DomainError) as exc:
        # Only now (the placement's transaction rolled back) is the key looked up: a key
        # that already placed an order answers that order, even when placing again would
        # fail (its cart was emptied by the payment); the happy path never pays the read.
        existing = Order.objects.filter(user=user, idempotency_key=hashed).first()
        if existing is None:
            if isinstance(exc, _KeyTaken):  # taken and gone again: cannot happen (no deletes)
                raise IdempotencyKeyReused() from None
            raise
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused() from None
        return Placed(existing, created=False)


@transaction.atomic(durable=True)
def _order_place(
    *,
    user: User,
    market: Market,
    hashed: str,
    fingerprint: str,
    items: Any,
    from_cart: bool,
    coupon_id: str | None,
    shipping_address: Any,
) -> Placed:
    if from_cart and items is not None:
        raise OrderItemsInvalid()
    wanted = None if from_cart else _clean_items(items)
    address = _clean_address(shipping_address)
    view, totals = _priced_lines(user=user, market=market, items=wanted)

    lines = view.lines
    # The pricing read each line's SKU id, product names and category (no query here).
    merchandise = [line.line_total.amount for line in lines if line.line_total is not None]
    priced = [
        coupons.PricedLine(
            product_id=line.product_id or 0,
            category_id=line.category_id or 0,
            merchandise=amount,
        )
        for line, amount in zip(lines, merchandise, strict=True)
    ]
    coupon_discount = 0
    coupon_shares = [0] * len(lines)
    if coupon_id:
        # Priced now, held after the stock below (inventory rows before coupon rows).
        preview = coupons.coupon_preview(public_id=coupon_id, user=user, market=market, lines=priced)
        coupon_discount = preview.discount
        coupon_shares = allocate(coupon_discount, preview.eligible)
    net = [m - c for m, c in zip(merchandise, coupon_shares, strict=True)]
    tax_amount, tax_included = totals.estimated_tax.amount, totals.tax_included
    if coupon_discount:
        # Tax on what is paid for the goods: the discounted merchandise (KR: the VAT inside
        # it; US: added on it). Shipping still follows the goods before the coupon.
        estimate = tax_calculator(market).estimate(market=market, taxable=Money(sum(net), market.currency))
        tax_amount, tax_included = estimate.amount.amount, estimate.included
    tax_shares = allocate(tax_amount, net)
    shipping_shares = allocate(totals.shipping_fee.amount, net)
    line_totals = [
        n + (0 if tax_included else t) + s for n, t, s in zip(net, tax_shares, shipping_shares, strict=True)
    ]
    total = sum(line_totals)
    # The lines add up to the order (largest remainder never loses a unit).
    assert total == sum(net) + totals.shipping_fee.amount + (0 if tax_included else tax_amount), total

    now = clock.now()
    # The pay-by time is the hold's expiry, known before the hold (no UPDATE after it).
    expires_at = reservation_expires_at(market=market, now=now)
    try:
        # No savepoint: a duplicate key aborts the whole placement anyway (raised below,
        # the durable transaction rolls back), and no query runs after it.
        order = insert(
            Order(
                number=_next_number(market, now),
                user=user,
                market=market,
                currency=market.currency,
                status=Order.Status.PENDING,
                idempotency_key=hashed,
                request_hash=fingerprint,
                subtotal=totals.subtotal.amount,
                sale_discount=totals.discount.amount,
                coupon_discount=coupon_discount,
                tax=tax_amount,
                tax_included=tax_included,
                coupon_code=str(coupon_id) if coupon_id else "",
                shipping_fee=totals.shipping_fee.amount,
                total=total,
                shipping_address=address,
                from_cart=from_cart,
                expires_at=expires_at,
                created_at=now,
                updated_at=now,
            )
        )
    except IntegrityError:
        # The key placed an order before (or a request past the idempotency layer at the
        # same moment did): order_place answers from that order once this rolls back.
        raise _KeyTaken() from None
    order_lines = insert_many(
        [
            OrderLine(
                order=order,
                position=index,
                sku_id=line.sku_id or 0,  # never 0: a line without a SKU was refused above
                sku_code=line.sku,
                product_id_snapshot=line.product_id or 0,
                name_ko=line.names[0] or line.name,
                name_en=line.names[1] or line.name,
                quantity=line.quantity,
                list_price=(line.list_price or line.unit_price).amount if line.unit_price else 0,
                unit_price=line.unit_price.amount if line.unit_price else 0,
                coupon_share=coupon_shares[index - 1],
                tax_share=tax_shares[index - 1],
                shipping_share=shipping_shares[index - 1],
                line_total=line_totals[index - 1],
            )
            for index, line in enumerate(lines, start=1)
        ]
    )
    _hold(order, lines=[(line.sku, line.quantity) for line in lines], market=market)
    if coupon_id:
        held = coupons.coupon_hold(
            public_id=coupon_id,
            user=user,
            market=market,
            owner=order.owner,
            lines=priced,
            order_number=order.number,
        )
        if held.discount != coupon_discount:  # the campaign changed between the two reads
            raise NotApplicable(reason="not_usable", reason_text=str(NOT_APPLICABLE_REASONS["not_usable"]))
    placed_change = insert(
        OrderStatusChange(
            order=order,
            from_status="",
            to_status=Order.Status.PENDING,
            actor=user,
            actor_kind=MEMBER,
            created_at=now,
        )
    )
    publish(
        type="order.created",
        aggregate_type="order",
        locked=True,  # a new order: nobody else can publish for it yet
        aggregate_id=str(order.public_id),
        market=market.code,
        payload=order_event_payload(
            order,
            expires_at=order.expires_at,
            coupon={"id": str(coupon_id), "discount": coupon_discount} if coupon_id else None,
            lines=[
                {"sku": line.sku, "quantity": line.quantity, "line_total": line_totals[i]}
                for i, line in enumerate(lines)
            ],
        ),
    )
    logger.info("orders.placed", flow="checkout", order=order.number, total=total, market=market.code)
    return Placed(order_shaped(order, lines=order_lines, history=[placed_change]), created=True)


def _hold(order: Order, *, lines: list[tuple[str, int]], market: Market) -> None:
    """Reserve the order's stock until its pay-by time. The orders' expiry sweep
    (``orders_expire_due``, every ``ORDERS_EXPIRE_SWEEP_SECONDS``) releases it with the
    order. A short SKU that has no stock in the market at all
    (never stocked there, or its product withdrawn) is ``cart.sku_unavailable``, as the
    cart says of it; that is read only when the reserve fails."""
    try:
        reservation_hold(
            owner=order.owner,
            lines=lines,
            market=market,
            expires_at=order.expires_at,
            new_owner=True,  # the order was created in this transaction
        )
    except InsufficientStock as exc:
        short = [str(item["sku"]) for item in exc.params.get("items") or ()]
        stocked = available_by_sku_codes(codes=short, market_code=market.code)
        missing = next((code for code in short if code not in stocked), None)
        if missing is not None:
            raise SkuUnavailable(sku=missing) from None
        raise
