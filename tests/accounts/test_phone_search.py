"""Staff find a member (and the member's orders) by phone although phones are encrypted at
rest: a blind index (HMAC of the normalised number) is kept next to the ciphertext."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.accounts import crypto
from apps.accounts.models import User
from apps.accounts.services import user_delete, user_profile_update
from apps.markets.models import Market
from tests.accounts.factories import MemberFactory, staff
from tests.orders.factories import place


@pytest.mark.parametrize(
    "typed",
    ["010-1234-5678", "01012345678", "+82 10 1234 5678", "+82-10-1234-5678", " 010 1234 5678 "],
)
def test_the_ways_people_type_a_korean_number_share_one_index(typed):
    assert crypto.phone_index(typed) == crypto.phone_index("010-1234-5678") != ""


def test_short_or_empty_numbers_have_no_index():
    assert crypto.phone_index("") == crypto.phone_index("12-34") == ""


def test_the_index_reveals_nothing_without_the_key(settings):
    index = crypto.phone_index("010-1234-5678")
    assert "01012345678" not in index and len(index) == 64
    settings.FIELD_INDEX_KEY = "another key"
    assert crypto.phone_index("010-1234-5678") != index


@pytest.mark.django_db
def test_the_profile_keeps_the_index_and_deletion_clears_it():
    member = MemberFactory()
    user_profile_update(user=member, phone="010-1234-5678")
    member.refresh_from_db()
    assert member.phone_index == crypto.phone_index("01012345678")
    assert User.objects.filter(phone_index=crypto.phone_index("+82 10 1234 5678")).get() == member

    user_delete(user=member)

    member.refresh_from_db()
    assert (str(member.phone), member.phone_index) == ("", "")


@pytest.mark.django_db
def test_rotation_recomputes_the_indexes_under_a_new_key(settings):
    member = MemberFactory()
    user_profile_update(user=member, phone="010-5555-0000")
    settings.FIELD_INDEX_KEY = "rotated-index-key"

    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115

    member.refresh_from_db()
    assert member.phone_index == crypto.phone_index("01055550000")


@pytest.mark.django_db
def test_cs_finds_a_customer_and_their_orders_by_phone(client):
    member = MemberFactory(email="phone.owner@example.test")
    other = MemberFactory(email="someone.else@example.test")
    user_profile_update(user=member, phone="010-2222-3333")
    user_profile_update(user=other, phone="010-9999-0000")
    kr = Market.objects.get(code="KR")
    order = place(member, kr)
    place(other, kr)
    client.force_login(staff("cs_agent", market="KR"))

    customers = client.get("/admin/accounts/user/", {"q": "+82 10-2222-3333"}).content.decode()
    orders = client.get("/admin/orders/order/", {"q": "01022223333"}).content.decode()

    assert "phone.owner@example.test" in customers and "someone.else@example.test" not in customers
    assert order.number in orders and "someone.else@example.test" not in orders
