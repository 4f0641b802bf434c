"""Storefront cart pages: the cart (lines, quantity stepper, remove, totals, free-shipping
hint), adding from product pages and cards, and the empty cart with a way back.

Plain POST-redirect-GET forms that work without JavaScript; ``static/carts/cart.js``
submits the same forms with ``fetch`` and swaps the cart block in place (a successful
POST redirects to the cart page, which fetch follows; a refused one renders the cart page
with the error at its line and the error's status). A guest gets the ``joopang_cart``
cookie with the first item added, never before: browsing makes no cart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.carts import selectors, services
from apps.carts.errors import (
    CartNotFound,
    ItemNotFound,
    PurchaseLimitExceeded,
    QuantityInvalid,
    SkuUnavailable,
    TooManyLines,
)
from apps.carts.web import (
    COOKIE_NAME,
    RequestCart,
    can_shop,
    cart_cookie_delete,
    cart_cookie_set,
    cart_for_request,
)
from apps.catalog import presenters
from apps.catalog.models import Sku
from apps.catalog.views import OPTION_NAMES, OPTION_VALUES, popular_cards
from apps.core.errors import DomainError
from apps.inventory.errors import InsufficientStock


@dataclass
class LineRow:
    """A cart line as the page shows it: the priced line plus its picture, link and options."""

    line: selectors.CartLineView
    image_src: str
    url: str
    options: str
    #: A message for this line: the refused change just made, or the line's standing issue.
    error: str | None = None


def error_message(exc: DomainError, *, name: str = "") -> str:
    """What a shopper reads for a refused add or change (localized; no SKU codes)."""
    if isinstance(exc, InsufficientStock):
        items = exc.params.get("items") or [{}]
        available = int(items[0].get("available", 0) or 0)
        if available <= 0:
            return _("Sorry, this item is sold out.")
        return _("Only %(available)s left in stock: choose %(available)s or fewer.") % {
            "available": available
        }
    if isinstance(exc, PurchaseLimitExceeded):
        return _("You can buy at most %(limit)s of this item per order.") % {"limit": exc.params.get("limit")}
    if isinstance(exc, QuantityInvalid):
        return _("Enter a whole number of at least 1.")
    if isinstance(exc, SkuUnavailable):
        return _("This item is not sold in this market.")
    if isinstance(exc, TooManyLines):
        return str(exc.detail)
    if isinstance(exc, ItemNotFound):
        return _("This item is no longer in your cart.")
    return str(exc.detail)


def _issue_message(line: selectors.CartLineView) -> str | None:
    if line.issue == selectors.ISSUE_UNAVAILABLE:
        return _("Not sold in this market: left out of the total.")
    if line.issue == selectors.ISSUE_STOCK:
        if line.stock <= 0:
            return _("Sold out: left out of the total.")
        return _("Only %(available)s left in stock: choose %(available)s or fewer.") % {
            "available": line.stock
        }
    if line.issue == selectors.ISSUE_LIMIT:
        return _("You can buy at most %(limit)s of this item per order.") % {"limit": line.max_per_order}
    return None


def _option_text(options: dict[str, Any]) -> str:
    return " · ".join(
        f"{OPTION_NAMES.get(k, k)} {OPTION_VALUES.get(str(v), v)}"
        for k, v in options.items()
        if v not in (None, "")
    )


def _rows(view: selectors.CartView, errors: dict[str, str]) -> list[LineRow]:
    """One query for the lines' pictures, links and options."""
    codes = [line.sku for line in view.lines]
    extra = {
        row[0]: row[1:]
        for row in Sku.objects.filter(code__in=codes).values_list(
            "code", "options", "product__slug", "product__image_url"
        )
    }
    rows = []
    for line in view.lines:
        options, slug, image_url = extra.get(line.sku, ({}, "", None))
        pid = line.product_id
        rows.append(
            LineRow(
                line=line,
                image_src=presenters.image_src(pid, image_url) if pid else "",
                url=f"/p/{pid}/{slug}/?sku={line.sku}" if pid else "",
                options=_option_text(options or {}),
                error=errors.get(line.sku) or _issue_message(line),
            )
        )
    return rows


def _render_cart(
    request: HttpRequest,
    found: RequestCart,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    market = request.market  # type: ignore[attr-defined]
    view = selectors.cart_get(cart=found.cart, market=market)
    totals = selectors.cart_totals(view=view) if view.lines else None
    request.cart_count = view.item_count  # type: ignore[attr-defined]  # the header's badge, no second read
    context = {
        "view": view,
        "rows": _rows(view, errors or {}),
        "totals": totals,
        "popular": popular_cards(market) if not view.lines else [],
    }
    response = render(request, "carts/cart.html", context, status=status)
    # a guest token that names nothing, or any guest token of a signed-in member (the login
    # hook merged that cart away): the browser need not send it again
    if found.stale_token or (found.is_member and COOKIE_NAME in request.COOKIES):
        cart_cookie_delete(response)
    return response


@require_GET
def cart_page(request: HttpRequest) -> HttpResponse:
    found = cart_for_request(request, create=False) if can_shop(request.user) else RequestCart(None)
    return _render_cart(request, found)


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    """Add a SKU (``sku``) or a one-option product (``product``, from a card) to the cart.
    A product with several options sends the shopper to its page to choose one."""
    market = request.market  # type: ignore[attr-defined]
    sku_code = (request.POST.get("sku") or "").strip()[:64]
    product_id = (request.POST.get("product") or "").strip()
    back = _safe_next(request)
    if not sku_code and product_id.isdigit():
        codes = list(
            Sku.objects.filter(product_id=int(product_id), is_active=True)
            .order_by("pk")
            .values_list("code", flat=True)[:2]
        )
        if len(codes) != 1:
            messages.info(request, _("Choose an option first."))
            return redirect(f"/p/{int(product_id)}/")
        sku_code = codes[0]
    if not can_shop(request.user):  # staff and system accounts have no cart
        messages.error(request, _("This account cannot shop. Sign in with a shopper account."))
        return redirect(back or "/")
    if not sku_code:
        messages.error(request, _("This item is not sold in this market."))
        return redirect(back or reverse("carts:page"))
    try:
        quantity = services.parse_quantity(request.POST.get("quantity", "1"), allow_digit_string=True)
    except QuantityInvalid as exc:
        messages.error(request, error_message(exc))
        return redirect(back or reverse("carts:page"))
    found = cart_for_request(request, create=True)
    assert found.cart is not None
    try:
        services.cart_item_add(cart=found.cart, sku_code=sku_code, quantity=quantity, market=market)
    except CartNotFound:
        messages.error(request, _("Your cart had expired. Please add the item again."))
        response = redirect(back or reverse("carts:page"))
        cart_cookie_delete(response)
        return response
    except DomainError as exc:
        messages.error(request, error_message(exc))
        response = redirect(back or reverse("carts:page"))
    else:
        offer_name = selectors.sku_offers(codes=[sku_code], market=market)[sku_code].name
        messages.success(request, _("“%(name)s” was added to your cart.") % {"name": offer_name})
        response = redirect(reverse("carts:page"))
    if found.new_token:
        cart_cookie_set(response, found.new_token)
    return response


def _line_change(request: HttpRequest, sku: str, *, remove: bool) -> HttpResponse:
    market = request.market  # type: ignore[attr-defined]
    found = cart_for_request(request, create=False) if can_shop(request.user) else RequestCart(None)
    if found.cart is None:
        response = redirect(reverse("carts:page"))
        if found.stale_token:
            cart_cookie_delete(response)
        return response
    try:
        if remove:
            services.cart_item_remove(cart=found.cart, sku_code=sku)
        else:
            raw = request.POST.get("quantity", "")
            step = request.POST.get("step", "")
            quantity = services.parse_quantity(raw, allow_digit_string=True)
            if step in ("1", "-1"):  # the stepper's buttons (no JavaScript needed)
                quantity = max(quantity + int(step), 1)
            services.cart_item_update(cart=found.cart, sku_code=sku, quantity=quantity, market=market)
    except CartNotFound:
        return redirect(reverse("carts:page"))
    except ItemNotFound:
        return redirect(reverse("carts:page"))  # removed meanwhile (another tab): show what is there
    except DomainError as exc:
        return _render_cart(request, found, errors={sku: error_message(exc)}, status=exc.http_status)
    return redirect(reverse("carts:page"))


@require_POST
def cart_line_update(request: HttpRequest, sku: str) -> HttpResponse:
    return _line_change(request, sku, remove=False)


@require_POST
def cart_line_remove(request: HttpRequest, sku: str) -> HttpResponse:
    return _line_change(request, sku, remove=True)
