"""Cart write use-cases: create, add, change, remove, merge at login, prune.

Concurrency rule: every write to a cart's lines runs under the cart row's lock
(``SELECT ... FOR UPDATE`` on ``carts_cart``), so two requests of one member (phone and
browser, or several workers) serialise per cart; ``UNIQUE (cart, sku)`` is the backstop
that can never let one SKU have two lines. A merge locks both carts in primary-key order.
A cart never reserves stock: the checks against availability are advisory at add time,
and checkout reserves.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.carts import selectors
from apps.carts.errors import (
    CartNotFound,
    ItemNotFound,
    PurchaseLimitExceeded,
    QuantityInvalid,
    SkuUnavailable,
    TooManyLines,
)
from apps.carts.models import Cart, CartLine
from apps.core import clock
from apps.core.compiled import Compiled, CompiledUpdate, insert
from apps.inventory.errors import InsufficientStock
from apps.markets.models import Market

#: Above this a quantity is not a quantity (``cart.quantity_invalid``), whatever the limits.
QUANTITY_MAX = 999_999


def parse_quantity(value: Any, *, allow_digit_string: bool = False) -> int:
    """A quantity as sent by a client, checked: a whole number 1..QUANTITY_MAX.

    JSON integers only for the API (``"2"``, ``2.0``, ``true`` are refused);
    ``allow_digit_string`` also takes ``"2"`` (HTML forms send strings).
    Raises: cart.quantity_invalid.
    """
    if isinstance(value, str) and allow_digit_string:
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 7:
            raise QuantityInvalid()
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= QUANTITY_MAX:
        raise QuantityInvalid()
    return value


def _guest_ttl() -> dt.timedelta:
    return dt.timedelta(days=settings.CART_GUEST_TTL_DAYS)


def _max_lines() -> int:
    return int(settings.CART_MAX_LINES)


# --- Creating and finding carts ------------------------------------------------------------


@transaction.atomic(durable=True)
def guest_cart_create(*, market: Market) -> tuple[Cart, str]:
    """A new empty guest cart and its token (shown to the client once; only its hash is
    stored). Locks: none."""
    now = clock.now()
    token = secrets.token_urlsafe(32)
    cart = Cart.objects.create(
        token_hash=selectors.token_hash(token),
        market=market,
        created_at=now,
        updated_at=now,
        expires_at=now + _guest_ttl(),
    )
    return cart, token


def guest_cart_discard(*, cart: Cart) -> None:
    """Delete a guest cart whose token never reached its client (the first add that made it
    was refused), so a refused add leaves no orphan row behind. Member carts are kept."""
    Cart.objects.filter(pk=cart.pk, user__isnull=True).delete()


def member_cart_get_or_create(*, user: User, market: Market) -> Cart:
    """The member's one cart, created on first use. Two first uses at once: the loser of
    ``UNIQUE (user)`` reads the winner's. Joins the caller's transaction if any."""
    cart = selectors.member_cart_get(user_id=user.pk)
    if cart is not None:
        return cart
    now = clock.now()
    try:
        with transaction.atomic():
            return Cart.objects.create(user=user, market=market, created_at=now, updated_at=now)
    except IntegrityError:
        cart = selectors.member_cart_get(user_id=user.pk)
        if cart is None:
            raise
        return cart


def cart_touch(*, cart: Cart, now: dt.datetime | None = None) -> None:
    """Move a guest cart's expiry forward on use. Written at most once an hour per cart
    (a read does not pay a write every time). Member carts do not expire."""
    if cart.user_id is not None:
        return
    now = now or clock.now()
    expires = now + _guest_ttl()
    if cart.expires_at is None or expires - cart.expires_at > dt.timedelta(hours=1):
        Cart.objects.filter(pk=cart.pk, user__isnull=True, expires_at__gt=now).update(expires_at=expires)
        cart.expires_at = expires


def _lock(cart: Cart) -> Cart:
    """The cart row, locked (caller's transaction). Gone meanwhile (merged, pruned):
    cart.not_found."""
    # The cart row only: its market comes from the markets map, not a join (a joined
    # market row would be locked FOR UPDATE too, and every cart write of the market and
    # every INSERT referencing it would queue behind).
    locked = selectors.with_market(Cart.objects.select_for_update().filter(pk=cart.pk).first())
    if locked is None:
        raise CartNotFound()
    return locked


#: ``_lock_saved``'s UPDATE (a guest cart's expiry moves too), compiled once.
_TOUCH_MEMBER = CompiledUpdate(
    Cart, lambda p: (Cart.objects.filter(pk=p.pk), {"market_id": p.market, "updated_at": p.now})
)
_TOUCH_GUEST = CompiledUpdate(
    Cart,
    lambda p: (
        Cart.objects.filter(pk=p.pk),
        {"market_id": p.market, "updated_at": p.now, "expires_at": p.expires},
    ),
)


def _lock_saved(cart: Cart, market: Market, now: dt.datetime) -> Cart:
    """``_lock`` and ``_saved`` in one statement, for a write that goes on to change the
    cart: the UPDATE takes the row lock and moves the cart to ``market`` (a failure later
    rolls the touch back with the rest). The other columns come from ``cart`` as the
    request read it: none of them changes while the cart exists. Gone meanwhile (merged,
    pruned): cart.not_found."""
    fields: dict[str, Any] = {"market": market, "updated_at": now}
    if cart.user_id is None:
        fields["expires_at"] = now + _guest_ttl()
        touched = _TOUCH_GUEST.execute(pk=cart.pk, market=market.code, now=now, expires=fields["expires_at"])
    else:
        touched = _TOUCH_MEMBER.execute(pk=cart.pk, market=market.code, now=now)
    if not touched:
        raise CartNotFound()
    for name, value in fields.items():
        setattr(cart, name, value)
    return cart


def _saved(cart: Cart, market: Market, now: dt.datetime) -> None:
    """After a write: the cart follows the request's market; a guest cart's expiry moves."""
    cart.market = market
    cart.updated_at = now
    fields = ["market", "updated_at"]
    if cart.user_id is None:
        cart.expires_at = now + _guest_ttl()
        fields.append("expires_at")
    cart.save(update_fields=fields)


def _check(offer: selectors.SkuOffer, quantity: int) -> None:
    """Raises: cart.sku_unavailable, cart.purchase_limit_exceeded, inventory.insufficient_stock."""
    if not offer.sold:
        raise SkuUnavailable(sku=offer.code)
    if quantity > offer.max_per_order:
        raise PurchaseLimitExceeded(sku=offer.code, limit=offer.max_per_order)
    if quantity > offer.available:
        raise InsufficientStock(
            skus=offer.code,
            items=[{"sku": offer.code, "requested": quantity, "available": offer.available}],
        )


# --- Lines ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    id: int
    sku_id: int
    code: str
    quantity: int


#: A cart's lines as ``cart_item_add`` works with them, in cart order.
_LINES = Compiled(
    CartLine,
    lambda p: (
        CartLine.objects.filter(cart_id=p.cart_id)
        .order_by("added_at", "id")
        .values_list("pk", "sku_id", "sku__code", "quantity")
    ),
)

#: A line's new quantity (an add, an update, a purchase taking units out, a merge).
_LINE_QUANTITY = CompiledUpdate(
    CartLine, lambda p: (CartLine.objects.filter(pk=p.pk), {"quantity": p.quantity, "updated_at": p.now})
)


@transaction.atomic(durable=True)
def cart_item_add(*, cart: Cart, sku_code: str, quantity: Any, market: Market) -> selectors.CartView:
    """Add ``quantity`` units of a SKU: a new line, or more of an existing one (the sum is
    what is checked). The cart moves to ``market``. Returns the cart as it now is, priced
    in ``market`` (what the API answers, without reading the cart again).

    Locks: the cart row (all writes of one cart serialise; no lost update, no second line).
    Raises: cart.quantity_invalid, cart.sku_unavailable, cart.too_many_lines,
    cart.purchase_limit_exceeded, inventory.insufficient_stock (409, the available
    quantity in ``items``), cart.not_found (the cart vanished meanwhile).
    Queries: the lock (the cart's update), the lines, the offers of every line's SKU and the
    new one (three), the write.
    """
    quantity = parse_quantity(quantity)
    now = clock.now()
    locked = _lock_saved(cart, market, now)
    lines = [
        _Line(line_id, sku_id, code, qty) for line_id, sku_id, code, qty in _LINES.fetch(cart_id=locked.pk)
    ]
    offers = selectors.sku_offers(codes=[*(line.code for line in lines), sku_code], market=market, now=now)
    offer = offers[sku_code]
    if not offer.sold or offer.sku_id is None:
        raise SkuUnavailable(sku=sku_code)
    line = next((line for line in lines if line.sku_id == offer.sku_id), None)
    if line is None and len(lines) >= _max_lines():
        raise TooManyLines(max=_max_lines())
    total = quantity + (line.quantity if line is not None else 0)
    if total > QUANTITY_MAX:
        raise QuantityInvalid()
    _check(offer, total)
    if line is None:
        created = insert(
            CartLine(cart_id=locked.pk, sku_id=offer.sku_id, quantity=total, added_at=now, updated_at=now)
        )
        lines.append(_Line(created.pk, offer.sku_id, sku_code, total))
    else:
        _LINE_QUANTITY.execute(pk=line.id, quantity=total, now=now)
        line.quantity = total
    return selectors.cart_view_priced(
        cart=locked, market=market, lines=[(line.code, line.quantity) for line in lines], offers=offers
    )


@transaction.atomic(durable=True)
def cart_item_update(*, cart: Cart, sku_code: str, quantity: Any, market: Market) -> CartLine:
    """Set a line's quantity (0 is refused: remove the line instead).

    Locks: the cart row. Raises: cart.quantity_invalid, cart.item_not_found,
    cart.sku_unavailable, cart.purchase_limit_exceeded, inventory.insufficient_stock.
    """
    quantity = parse_quantity(quantity)
    now = clock.now()
    locked = _lock(cart)
    line = CartLine.objects.filter(cart_id=locked.pk, sku__code=sku_code).first()
    if line is None:
        raise ItemNotFound(sku=sku_code)
    _check(selectors.sku_offers(codes=[sku_code], market=market, now=now)[sku_code], quantity)
    _LINE_QUANTITY.execute(pk=line.pk, quantity=quantity, now=now)
    line.quantity = quantity
    _saved(locked, market, now)
    return line


@transaction.atomic(durable=True)
def cart_item_remove(*, cart: Cart, sku_code: str) -> None:
    """Remove a line. Locks: the cart row. Raises: cart.item_not_found."""
    now = clock.now()
    locked = _lock(cart)
    deleted, _rows = CartLine.objects.filter(cart_id=locked.pk, sku__code=sku_code).delete()
    if not deleted:
        raise ItemNotFound(sku=sku_code)
    _saved(locked, locked.market, now)


@transaction.atomic(durable=True)
def cart_clear(*, cart: Cart) -> None:
    """Remove every line (checkout, or the shopper). Locks: the cart row."""
    locked = _lock(cart)
    CartLine.objects.filter(cart_id=locked.pk).delete()
    _saved(locked, locked.market, clock.now())


_BOUGHT_LINES = Compiled(
    CartLine,
    lambda p: CartLine.objects.filter(cart_id=p.cart_id, sku_id__in=p.sku_ids).values_list(
        "pk", "sku_id", "quantity"
    ),
)


def cart_lines_bought(*, user_id: int, bought: list[tuple[int, int]]) -> int:
    """Take what a paid order bought (``(sku_id, quantity)`` pairs) out of the member's
    cart, in the payment's own transaction: each SKU's quantity goes down by what was
    bought, and a line at zero goes. Lines added since (or more units than were bought)
    stay. Returns the lines changed.

    Three statements on the happy path: the cart row is locked and touched by one UPDATE
    (the row lock every cart write takes), its bought lines read, the fully bought ones
    deleted in one DELETE. Locks: the cart row, after the payment's order, stock and wallet rows;
    no flow holds a cart row while waiting for those, so the order cannot deadlock."""
    if not bought:
        return 0
    now = clock.now()
    # Locked and touched in one statement (the member has at most one cart).
    connection = transaction.get_connection()
    assert connection.in_atomic_block, "cart_lines_bought() runs in the payment's transaction"
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE carts_cart SET updated_at = %s WHERE user_id = %s RETURNING id",
            [connection.ops.adapt_datetimefield_value(now), user_id],
        )
        found = cursor.fetchone()
    if found is None:
        return 0
    cart_id = int(found[0])
    per_sku: dict[int, int] = {}
    for sku_id, quantity in bought:
        per_sku[sku_id] = per_sku.get(sku_id, 0) + quantity
    rows = _BOUGHT_LINES.fetch(cart_id=cart_id, sku_ids=sorted(per_sku))
    gone = [pk for pk, sku_id, quantity in rows if quantity <= per_sku[sku_id]]
    if gone:  # no Collector: nothing refers to a cart line, and no signal listens
        with connection.cursor() as cursor:
            placeholders = ", ".join(["%s"] * len(gone))  # only placeholders: the ids are parameters
            cursor.execute(f"DELETE FROM carts_cartline WHERE id IN ({placeholders})", gone)  # noqa: S608
    for pk, sku_id, quantity in rows:
        if quantity > per_sku[sku_id]:
            _LINE_QUANTITY.execute(pk=pk, quantity=quantity - per_sku[sku_id], now=now)
    return len(rows)


# --- Merge at login ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeNotice:
    """One line the merge could not take as asked. ``reason``: cart.purchase_limit_exceeded,
    inventory.insufficient_stock, cart.sku_unavailable or cart.too_many_lines. ``requested``:
    the summed quantity; ``quantity``: what the member's cart now holds of it."""

    sku: str
    name: str
    requested: int
    quantity: int
    reason: str
    limit: int | None = None
    available: int | None = None

    @property
    def message(self) -> str:
        """The change in the active language."""
        params = {
            "name": self.name,
            "quantity": self.quantity,
            "limit": self.limit,
            "available": self.available,
        }
        if self.reason == PurchaseLimitExceeded.code:
            return _("%(name)s: quantity set to %(quantity)s (at most %(limit)s per order).") % params
        if self.reason == InsufficientStock.code and self.quantity > 0:
            return _("%(name)s: quantity set to %(quantity)s (only %(available)s in stock).") % params
        if self.reason == InsufficientStock.code:
            return _("%(name)s was not added: it is out of stock.") % params
        if self.reason == TooManyLines.code:
            return _("%(name)s was not added: the cart is full.") % params
        return _("%(name)s was not added: it is not sold in this market.") % params


@dataclass
class MergeResult:
    cart: Cart
    notices: list[MergeNotice] = field(default_factory=list)
    #: SKUs whose units moved into the member's cart (summed or new).
    merged: list[str] = field(default_factory=list)


@transaction.atomic(durable=True)
def cart_merge(*, guest_cart: Cart, user: User, market: Market) -> MergeResult:
    """Move a guest cart into the member's cart (created when missing) and delete the guest
    cart. Per SKU the quantities are summed, then capped by the product's ``max_per_order``
    and by what is available in ``market``; a SKU not sold there is left out. A member's
    existing line is never lowered by the merge. Every cap or omission is a notice.

    Locks: both cart rows, in primary-key order (two merges never deadlock).
    Raises: cart.not_found (the guest cart was already merged or has expired).
    """
    now = clock.now()
    member = member_cart_get_or_create(user=user, market=market)
    if guest_cart.pk == member.pk:
        return MergeResult(member)
    locked = {
        c.pk: c
        for c in Cart.objects.select_for_update().filter(pk__in=[guest_cart.pk, member.pk]).order_by("pk")
    }
    guest = locked.get(guest_cart.pk)
    if (
        guest is None
        or guest.user_id is not None
        or (guest.expires_at is not None and guest.expires_at <= now)
    ):
        raise CartNotFound()
    member = locked[member.pk]
    guest_lines = list(
        CartLine.objects.filter(cart_id=guest.pk).select_related("sku").order_by("added_at", "id")
    )
    mine = {line.sku_id: line for line in CartLine.objects.filter(cart_id=member.pk)}
    offers = selectors.sku_offers(codes=[line.sku.code for line in guest_lines], market=market, now=now)
    result = MergeResult(member)
    line_count = len(mine)
    for gline in guest_lines:
        code = gline.sku.code
        offer = offers[code]
        existing = mine.get(gline.sku_id)
        have = existing.quantity if existing is not None else 0
        requested = have + gline.quantity
        if not offer.sold:
            result.notices.append(MergeNotice(code, offer.name, requested, have, SkuUnavailable.code))
            continue
        if existing is None and line_count >= _max_lines():
            result.notices.append(MergeNotice(code, offer.name, requested, 0, TooManyLines.code))
            continue
        capped = min(requested, offer.max_per_order, offer.available)
        new = max(capped, have)
        if capped < requested:
            reason = (
                PurchaseLimitExceeded.code
                if offer.max_per_order <= offer.available
                else InsufficientStock.code
            )
            result.notices.append(
                MergeNotice(
                    code,
                    offer.name,
                    requested,
                    new,
                    reason,
                    limit=offer.max_per_order,
                    available=offer.available,
                )
            )
        if new <= 0 or new == have:
            continue
        if existing is None:
            insert(
                CartLine(cart_id=member.pk, sku_id=gline.sku_id, quantity=new, added_at=now, updated_at=now)
            )
            line_count += 1
        else:
            _LINE_QUANTITY.execute(pk=existing.pk, quantity=new, now=now)
        result.merged.append(code)
    guest.delete()
    _saved(member, market, now)
    result.cart = member
    return result


# --- Expiry --------------------------------------------------------------------------------


def carts_prune(*, now: dt.datetime | None = None, batch: int = 500, max_batches: int = 20) -> int:
    """Delete expired guest carts (and their lines), ``batch`` per transaction. Safe to run
    twice or together: deleting an already deleted row deletes nothing. Member carts never
    expire. Returns how many carts were deleted.

    Locks: the expired cart rows (``SKIP LOCKED``: a cart a write holds is left for later)."""
    now = now or clock.now()
    total = 0
    for _batch_no in range(max_batches):
        with transaction.atomic():
            # Locked (skipping rows a write holds: an add that found the cart just before
            # expiry moves it forward), so no write can revive a cart between this read and
            # the deletes below. SQLite: the IMMEDIATE transaction serialises.
            ids = list(
                Cart.objects.select_for_update(skip_locked=True)
                .filter(user__isnull=True, expires_at__lte=now)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            CartLine.objects.filter(cart_id__in=ids).delete()
            Cart.objects.filter(pk__in=ids, user__isnull=True, expires_at__lte=now).delete()
        total += len(ids)
        if len(ids) < batch:
            break
    return total
