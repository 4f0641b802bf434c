"""Cart services: validation on add and update, limits, tokens and expiry (issue 18)."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.carts import selectors, services
from apps.carts.errors import (
    CartNotFound,
    ItemNotFound,
    PurchaseLimitExceeded,
    QuantityInvalid,
    SkuUnavailable,
    TooManyLines,
)
from apps.carts.models import Cart, CartLine
from apps.catalog.models import Product, Sku
from apps.core import clock
from apps.inventory.errors import InsufficientStock
from tests.carts.factories import guest_cart, member_cart, stocked

pytestmark = pytest.mark.django_db


def _lines(cart: Cart) -> list[tuple[str, int]]:
    return list(CartLine.objects.filter(cart=cart).order_by("id").values_list("sku__code", "quantity"))


@pytest.mark.parametrize("quantity", [0, -3, "2", "x", 2.0, 1.5, True, None, 10**30, 1_000_000])
def test_quantity_must_be_a_positive_integer(kr, quantity):
    _, code = stocked()
    cart, _token = guest_cart()

    with pytest.raises(QuantityInvalid) as err:
        services.cart_item_add(cart=cart, sku_code=code, quantity=quantity, market=kr)

    assert err.value.code == "cart.quantity_invalid" and err.value.http_status == 400
    assert _lines(cart) == []


def test_form_strings_are_read_when_allowed():
    assert services.parse_quantity(" 3 ", allow_digit_string=True) == 3
    with pytest.raises(QuantityInvalid):
        services.parse_quantity("-3", allow_digit_string=True)
    with pytest.raises(QuantityInvalid):
        services.parse_quantity("３", allow_digit_string=True)  # a full-width digit


def test_add_sums_and_checks_the_purchase_limit_on_the_sum(kr):
    _, code = stocked(max_per_order=5)
    cart, _token = guest_cart()
    services.cart_item_add(cart=cart, sku_code=code, quantity=3, market=kr)

    services.cart_item_add(cart=cart, sku_code=code, quantity=2, market=kr)
    with pytest.raises(PurchaseLimitExceeded) as err:
        services.cart_item_add(cart=cart, sku_code=code, quantity=1, market=kr)

    assert err.value.params["limit"] == 5
    assert err.value.http_status == 422
    assert _lines(cart) == [(code, 5)]  # one line, unchanged by the refused add


def test_stock_above_the_available_is_insufficient_stock_with_the_quantity(kr):
    _, code = stocked(stock={"KR": 3})
    cart, _token = guest_cart()

    with pytest.raises(InsufficientStock) as err:
        services.cart_item_add(cart=cart, sku_code=code, quantity=4, market=kr)

    assert err.value.http_status == 409
    assert err.value.params["items"] == [{"sku": code, "requested": 4, "available": 3}]
    assert _lines(cart) == []


def test_update_checks_stock_and_limit_and_needs_the_line(kr):
    _, code = stocked(stock={"KR": 4}, max_per_order=10)
    cart, _token = guest_cart()
    services.cart_item_add(cart=cart, sku_code=code, quantity=1, market=kr)

    with pytest.raises(InsufficientStock):
        services.cart_item_update(cart=cart, sku_code=code, quantity=5, market=kr)
    with pytest.raises(QuantityInvalid):
        services.cart_item_update(cart=cart, sku_code=code, quantity=0, market=kr)
    with pytest.raises(ItemNotFound):
        services.cart_item_update(cart=cart, sku_code="NOPE-1", quantity=1, market=kr)
    services.cart_item_update(cart=cart, sku_code=code, quantity=4, market=kr)

    assert _lines(cart) == [(code, 4)]


def test_update_above_max_per_order(kr):
    _, code = stocked(max_per_order=2)
    cart, _token = guest_cart()
    services.cart_item_add(cart=cart, sku_code=code, quantity=1, market=kr)

    with pytest.raises(PurchaseLimitExceeded):
        services.cart_item_update(cart=cart, sku_code=code, quantity=3, market=kr)

    assert _lines(cart) == [(code, 1)]


def test_unknown_inactive_and_unstocked_skus_are_unavailable(kr, us):
    _, inactive_sku = stocked()
    Sku.objects.filter(code=inactive_sku).update(is_active=False)
    product, inactive_product = stocked()
    Product.objects.filter(pk=product.pk).update(is_active=False)
    _, kr_only = stocked(stock={"KR": 5})
    cart, _token = guest_cart()

    for code, market in (("NOPE-1", kr), (inactive_sku, kr), (inactive_product, kr), (kr_only, us)):
        with pytest.raises(SkuUnavailable) as err:
            services.cart_item_add(cart=cart, sku_code=code, quantity=1, market=market)
        assert err.value.code == "cart.sku_unavailable"

    assert _lines(cart) == []


def test_a_cart_holds_at_most_cart_max_lines(kr, settings):
    settings.CART_MAX_LINES = 2
    codes = [stocked()[1] for _ in range(3)]
    cart, _token = guest_cart()
    services.cart_item_add(cart=cart, sku_code=codes[0], quantity=1, market=kr)
    services.cart_item_add(cart=cart, sku_code=codes[1], quantity=1, market=kr)

    with pytest.raises(TooManyLines) as err:
        services.cart_item_add(cart=cart, sku_code=codes[2], quantity=1, market=kr)
    services.cart_item_add(cart=cart, sku_code=codes[1], quantity=1, market=kr)  # an existing line: fine

    assert err.value.params["max"] == 2
    assert _lines(cart) == [(codes[0], 1), (codes[1], 2)]


def test_remove_and_clear(kr):
    _, a = stocked()
    _, b = stocked()
    cart, _token = guest_cart()
    services.cart_item_add(cart=cart, sku_code=a, quantity=1, market=kr)
    services.cart_item_add(cart=cart, sku_code=b, quantity=1, market=kr)

    services.cart_item_remove(cart=cart, sku_code=a)
    with pytest.raises(ItemNotFound):
        services.cart_item_remove(cart=cart, sku_code=a)
    assert _lines(cart) == [(b, 1)]
    services.cart_clear(cart=cart)
    assert _lines(cart) == []


def test_a_cart_reserves_no_stock(kr):
    from apps.inventory.models import StockLevel

    _, code = stocked(stock={"KR": 5})
    cart, _token = guest_cart()

    services.cart_item_add(cart=cart, sku_code=code, quantity=5, market=kr)

    assert list(StockLevel.objects.filter(sku__code=code).values_list("on_hand", "reserved")) == [(5, 0)]


# --- tokens and expiry ---------------------------------------------------------------------


def test_tokens_are_random_and_only_their_hash_is_stored(kr):
    (c1, t1), (c2, t2) = guest_cart(), guest_cart()

    assert t1 != t2 and len(t1) >= 43
    assert c1.token_hash == selectors.token_hash(t1) and t1 not in c1.token_hash
    assert not Cart.objects.filter(token_hash=t1).exists()
    assert c1.public_id.version == 4 and c1.public_id != c2.public_id
    assert selectors.guest_cart_get(token=t1) == c1
    assert selectors.guest_cart_get(token=t1[:-1] + ("A" if t1[-1] != "A" else "B")) is None
    assert selectors.guest_cart_get(token="x" * 5000) is None


def test_guest_carts_expire_are_touched_on_use_and_pruned(kr, monkeypatch, settings):
    settings.CART_GUEST_TTL_DAYS = 14
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    now = {"t": start}
    monkeypatch.setattr(clock, "now", lambda: now["t"])
    _, code = stocked()
    stale, stale_token = guest_cart()
    used, used_token = guest_cart()
    services.cart_item_add(cart=stale, sku_code=code, quantity=1, market=kr)
    member = member_cart()

    now["t"] = start + dt.timedelta(days=10)
    services.cart_touch(cart=selectors.guest_cart_get(token=used_token))  # a read 10 days later
    now["t"] = start + dt.timedelta(days=14, seconds=1)

    assert selectors.guest_cart_get(token=stale_token) is None  # invisible at once
    assert selectors.guest_cart_get(token=used_token) is not None
    assert services.carts_prune() == 1
    assert services.carts_prune() == 0  # twice: nothing more
    assert set(Cart.objects.values_list("pk", flat=True)) == {used.pk, member.pk}
    assert not CartLine.objects.filter(cart_id=stale.pk).exists()


def test_prune_task_calls_the_service(kr, monkeypatch):
    from apps.carts.tasks import carts_prune_task

    _cart, _token = guest_cart()
    Cart.objects.update(expires_at=clock.now() - dt.timedelta(seconds=1))

    assert carts_prune_task.apply().get() == 1
    assert Cart.objects.count() == 0


def test_a_vanished_cart_is_cart_not_found(kr):
    _, code = stocked()
    cart, _token = guest_cart()
    Cart.objects.filter(pk=cart.pk).delete()

    with pytest.raises(CartNotFound):
        services.cart_item_add(cart=cart, sku_code=code, quantity=1, market=kr)


def test_member_cart_is_one_per_member(kr):
    from tests.accounts.factories import MemberFactory

    user = MemberFactory()

    first = services.member_cart_get_or_create(user=user, market=kr)
    second = services.member_cart_get_or_create(user=user, market=kr)

    assert first.pk == second.pk and first.expires_at is None
