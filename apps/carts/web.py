"""The cart of a request, for the storefront views and the API alike, and the login hook.

- A signed-in person (session or Bearer token) has one member cart.
- Anyone else is a guest: the guest cart named by the ``joopang_cart`` cookie (storefront)
  or the ``X-Cart-Token`` header (API). The token is opaque (256 random bits); only its hash
  is stored.

Usage in a storefront view::

    found = cart_for_request(request, create=True)
    services.cart_item_add(cart=found.cart, sku_code=..., quantity=..., market=request.market)
    response = redirect(...)
    if found.new_token:
        cart_cookie_set(response, found.new_token)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import gettext as _

from apps.accounts.permissions import may_shop
from apps.carts import selectors, services
from apps.carts.errors import CartNotFound
from apps.carts.models import Cart

COOKIE_NAME = "joopang_cart"
HEADER_NAME = "X-Cart-Token"
_META_HEADER = "HTTP_X_CART_TOKEN"


@dataclass
class RequestCart:
    """``cart``: None when there is none yet (and ``create`` was False). ``new_token``: a
    guest cart was created by this call: hand it to the client (cookie / header).
    ``is_member``: the cart is (or will be) the signed-in member's."""

    cart: Cart | None
    new_token: str | None = None
    is_member: bool = False
    #: The client sent a token that names no live cart (expired, merged, made up).
    stale_token: bool = False


def _user(request: Any) -> Any:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and not getattr(user, "is_service_account", False):
        return user
    return None


def can_shop(user: Any) -> bool:
    """May this caller have a cart? Guests (anonymous) and members (``accounts.shop``); a
    signed-in staff account or system client may not (the API answers them 403)."""
    if user is None or not user.is_authenticated:
        return True
    return bool(not getattr(user, "is_service_account", False) and may_shop(user))


def request_cart_token(request: Any) -> str | None:
    """The guest token the client sent: the ``X-Cart-Token`` header, else the cookie."""
    meta = getattr(request, "META", {})
    token = meta.get(_META_HEADER) or getattr(request, "COOKIES", {}).get(COOKIE_NAME)
    token = (token or "").strip()
    return token or None


def cart_for_request(request: Any, *, create: bool) -> RequestCart:
    """The request's cart: the member's for a signed-in person, else the guest cart of the
    token. ``create``: make one when missing (a guest gets a new token). A token naming no
    live cart is ignored (``stale_token`` True) and, with ``create``, replaced.

    ``request`` is a Django ``HttpRequest`` or a DRF ``Request`` (both carry ``user``,
    ``META``, ``COOKIES``); its market is ``request.market`` (set by the middleware).
    Check ``can_shop(request.user)`` first: staff accounts have no cart (the API: 403)."""
    market = request.market
    user = _user(request)
    if user is not None:
        cart = (
            services.member_cart_get_or_create(user=user, market=market)
            if create
            else selectors.member_cart_get(user_id=user.pk)
        )
        return RequestCart(cart, is_member=True)
    token = request_cart_token(request)
    cart = selectors.guest_cart_get(token=token) if token else None
    if cart is not None:
        services.cart_touch(cart=cart)
        return RequestCart(cart)
    if not create:
        return RequestCart(None, stale_token=token is not None)
    cart, new_token = services.guest_cart_create(market=market)
    return RequestCart(cart, new_token=new_token, stale_token=token is not None)


def cart_cookie_set(response: HttpResponseBase, token: str) -> None:
    """Give the browser its guest cart token: HttpOnly, SameSite=Lax, for the guest TTL."""
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(settings.CART_GUEST_TTL_DAYS) * 86400,
        secure=bool(settings.SESSION_COOKIE_SECURE),
        httponly=True,
        samesite="Lax",
    )


def cart_cookie_delete(response: HttpResponseBase) -> None:
    response.delete_cookie(COOKIE_NAME, samesite="Lax")


def merge_guest_cart_on_login(request: HttpRequest, user: Any) -> services.MergeResult | None:
    """``ACCOUNTS_LOGIN_HOOKS`` entry: called by the storefront sign-in right after
    ``login()``. Merges the guest cart of the cookie into the member's cart and leaves the
    notice in ``django.contrib.messages`` (the active language). The guest cart is deleted,
    so the now stale cookie names nothing (a view may drop it: ``cart_cookie_delete``).
    Never fails the sign-in: a missing or already merged guest cart is no merge."""
    if not can_shop(user):
        return None  # a staff account signing in on the storefront keeps no shopper cart
    token = request.COOKIES.get(COOKIE_NAME) or request.META.get(_META_HEADER)
    guest = selectors.guest_cart_get(token=token.strip()) if token else None
    if guest is None:
        return None
    try:
        result = services.cart_merge(guest_cart=guest, user=user, market=request.market)  # type: ignore[attr-defined]
    except CartNotFound:
        return None
    request.cart_token_consumed = True  # type: ignore[attr-defined]
    if result.merged or result.notices:
        messages.info(request, _("The items of your guest cart were added to your cart."))
    for notice in result.notices:
        messages.warning(request, notice.message)
    return result
