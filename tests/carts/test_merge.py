"""Merge at login: quantities summed, capped by max_per_order and stock, SKUs not sold in
the market left out, every change in the notice; the storefront sign-in merges by itself."""

from __future__ import annotations

import pytest

from apps.carts import services
from apps.carts.models import Cart, CartLine
from apps.carts.web import COOKIE_NAME
from tests.accounts.factories import PASSWORD, MemberFactory
from tests.carts.factories import guest_cart, member_cart, stocked

pytestmark = pytest.mark.django_db


def _lines(cart: Cart) -> dict[str, int]:
    return dict(CartLine.objects.filter(cart=cart).values_list("sku__code", "quantity"))


def guest_name(code: str) -> str:
    from apps.catalog.models import Sku

    return Sku.objects.select_related("product").get(code=code).product.name_en or ""


def _notices(result: services.MergeResult) -> list[tuple]:
    return [(n.sku, n.requested, n.quantity, n.reason, n.limit, n.available) for n in result.notices]


def test_quantities_are_summed_and_new_lines_moved(kr):
    user = MemberFactory()
    _, shared = stocked()
    _, only_guest = stocked()
    _, only_member = stocked()
    mine = member_cart(user)
    services.cart_item_add(cart=mine, sku_code=shared, quantity=1, market=kr)
    services.cart_item_add(cart=mine, sku_code=only_member, quantity=4, market=kr)
    guest, _token = guest_cart()
    services.cart_item_add(cart=guest, sku_code=shared, quantity=2, market=kr)
    services.cart_item_add(cart=guest, sku_code=only_guest, quantity=3, market=kr)

    result = services.cart_merge(guest_cart=guest, user=user, market=kr)

    assert result.cart.pk == mine.pk and result.notices == []
    assert _lines(mine) == {shared: 3, only_guest: 3, only_member: 4}
    assert not Cart.objects.filter(pk=guest.pk).exists()  # consumed
    assert sorted(result.merged) == sorted([shared, only_guest])


def test_merge_capped_by_stock(kr):
    user = MemberFactory()
    _, code = stocked(stock={"KR": 4}, max_per_order=10)
    mine = member_cart(user)
    services.cart_item_add(cart=mine, sku_code=code, quantity=2, market=kr)
    guest, _token = guest_cart()
    services.cart_item_add(cart=guest, sku_code=code, quantity=3, market=kr)

    result = services.cart_merge(guest_cart=guest, user=user, market=kr)

    assert _lines(mine) == {code: 4}
    assert _notices(result) == [(code, 5, 4, "inventory.insufficient_stock", 10, 4)]
    assert "4" in result.notices[0].message


def test_merge_capped_by_max_per_order(kr):
    user = MemberFactory()
    _, code = stocked(max_per_order=3)
    mine = member_cart(user)
    services.cart_item_add(cart=mine, sku_code=code, quantity=2, market=kr)
    guest, _token = guest_cart()
    services.cart_item_add(cart=guest, sku_code=code, quantity=2, market=kr)

    result = services.cart_merge(guest_cart=guest, user=user, market=kr)

    assert _lines(mine) == {code: 3}
    assert _notices(result) == [(code, 4, 3, "cart.purchase_limit_exceeded", 3, 50)]


def test_merge_leaves_out_a_sku_not_sold_in_the_market(kr, us):
    user = MemberFactory()
    _, kr_only = stocked(stock={"KR": 5})
    _, both = stocked(stock={"KR": 5, "US": 5})
    guest, _token = guest_cart()
    services.cart_item_add(cart=guest, sku_code=kr_only, quantity=1, market=kr)
    services.cart_item_add(cart=guest, sku_code=both, quantity=1, market=kr)

    result = services.cart_merge(guest_cart=guest, user=user, market=us)

    assert _lines(result.cart) == {both: 1}
    assert _notices(result) == [(kr_only, 1, 0, "cart.sku_unavailable", None, None)]
    assert result.cart.market_id == "US"


def test_merge_of_a_sold_out_sku_and_a_full_cart(kr, settings):
    user = MemberFactory()
    _, sold_out = stocked(stock={"KR": 2})
    _, fits = stocked()
    _, extra = stocked()
    guest, _token = guest_cart()
    services.cart_item_add(cart=guest, sku_code=sold_out, quantity=2, market=kr)
    services.cart_item_add(cart=guest, sku_code=fits, quantity=1, market=kr)
    services.cart_item_add(cart=guest, sku_code=extra, quantity=1, market=kr)
    from apps.inventory.models import StockLevel

    StockLevel.objects.filter(sku__code=sold_out).update(on_hand=0)
    settings.CART_MAX_LINES = 1

    result = services.cart_merge(guest_cart=guest, user=user, market=kr)

    assert _lines(result.cart) == {fits: 1}
    assert [(n.sku, n.reason, n.quantity) for n in result.notices] == [
        (sold_out, "inventory.insufficient_stock", 0),
        (extra, "cart.too_many_lines", 0),
    ]


def test_merge_never_lowers_the_members_line(kr):
    from apps.inventory.models import StockLevel

    user = MemberFactory()
    _, code = stocked(stock={"KR": 5})
    mine = member_cart(user)
    services.cart_item_add(cart=mine, sku_code=code, quantity=5, market=kr)
    StockLevel.objects.filter(sku__code=code).update(on_hand=2)
    guest, _token = guest_cart()
    CartLine.objects.create(
        cart=guest, sku_id=CartLine.objects.get(cart=mine).sku_id, quantity=1, added_at=guest.created_at,
        updated_at=guest.created_at,
    )  # fmt: skip

    result = services.cart_merge(guest_cart=guest, user=user, market=kr)

    assert _lines(mine) == {code: 5}
    assert [(n.reason, n.quantity) for n in result.notices] == [("inventory.insufficient_stock", 5)]


def test_storefront_sign_in_merges_the_cookie_cart_with_a_notice(client, kr):
    user = MemberFactory()
    _, code = stocked(max_per_order=2)
    _, other = stocked()
    guest, token = guest_cart()
    services.cart_item_add(cart=guest, sku_code=code, quantity=2, market=kr)
    services.cart_item_add(cart=guest, sku_code=other, quantity=1, market=kr)
    mine = member_cart(user)
    services.cart_item_add(cart=mine, sku_code=code, quantity=1, market=kr)
    client.cookies[COOKIE_NAME] = token

    response = client.post(
        "/accounts/login/?lang=en", {"email": user.email, "password": PASSWORD}, follow=True
    )

    assert response.status_code == 200
    assert _lines(mine) == {code: 2, other: 1}
    assert not Cart.objects.filter(pk=guest.pk).exists()
    texts = [str(m) for m in response.context["messages"]]
    assert texts == [
        "The items of your guest cart were added to your cart.",
        f"{guest_name(code)}: quantity set to 2 (at most 2 per order).",
    ]


def test_sign_in_without_a_guest_cart_changes_nothing(client, kr):
    user = MemberFactory()

    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})

    assert response.status_code == 302
    assert Cart.objects.count() == 0


def test_a_staff_sign_in_keeps_the_guest_cart_unmerged(rf, kr):
    from apps.carts.web import merge_guest_cart_on_login
    from tests.accounts.factories import staff

    guest, token = guest_cart()
    request = rf.post("/accounts/login/")
    request.COOKIES[COOKIE_NAME] = token
    request.market = kr

    assert merge_guest_cart_on_login(request, staff("cs_agent")) is None
    assert Cart.objects.filter(pk=guest.pk).exists()


def test_sign_up_keeps_the_guest_cart(client, kr):
    from tests.accounts.test_storefront_pages import signup_data

    _, code = stocked()
    guest, token = guest_cart()
    services.cart_item_add(cart=guest, sku_code=code, quantity=2, market=kr)
    client.cookies[COOKIE_NAME] = token

    response = client.post("/accounts/signup/", signup_data())

    assert response.status_code == 302
    member = Cart.objects.get(user__email="seo@example.test")
    assert _lines(member) == {code: 2}
    assert not Cart.objects.filter(pk=guest.pk).exists()


def test_notices_are_localized(kr):
    from django.utils import translation

    notice = services.MergeNotice(
        "S-1", "텀블러", 7, 5, "cart.purchase_limit_exceeded", limit=5, available=50
    )
    stock = services.MergeNotice("S-2", "머그", 3, 2, "inventory.insufficient_stock", limit=10, available=2)
    gone = services.MergeNotice("S-3", "컵", 1, 0, "cart.sku_unavailable")

    with translation.override("ko"):
        assert notice.message == "텀블러: 1회 최대 구매 수량이 5개여서 5개로 조정했습니다."
        assert stock.message == "머그: 재고가 2개뿐이어서 2개로 조정했습니다."
        assert gone.message == "컵: 이 마켓에서 판매하지 않아 담지 못했습니다."
    with translation.override("en"):
        assert notice.message == "텀블러: quantity set to 5 (at most 5 per order)."
