"""``may_shop`` (behind ``IsMember`` and the carts' check) answers what
``has_perm("accounts.shop")`` answers, in one query instead of two."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from apps.accounts.models import User
from apps.accounts.permissions import may_shop
from apps.accounts.permissions_sql import active_user_with_may_shop
from tests.accounts.factories import MemberFactory, UserFactory, staff

pytestmark = pytest.mark.django_db


def _fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no permission cache, no memo


def _direct_shopper() -> User:
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="shop"))
    return user


def _inactive_member() -> User:
    user = MemberFactory()
    User.objects.filter(pk=user.pk).update(is_active=False)
    return user


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (MemberFactory, True),
        (lambda: staff("ops_admin"), False),
        (lambda: staff("cs_agent"), False),
        (UserFactory, False),
        (_direct_shopper, True),
        (_inactive_member, False),
        (lambda: UserFactory(is_superuser=True), True),
    ],
)
def test_may_shop_answers_as_has_perm_in_at_most_one_query(make, expected, django_assert_max_num_queries):
    # given: an account, read fresh twice (no cached permissions)
    user = make()
    asked, reference = _fresh(user), _fresh(user)

    # when: asked through may_shop, twice
    with django_assert_max_num_queries(1):
        first = may_shop(asked)
        second = may_shop(asked)

    # then: Django's own answer, the second from the memo
    assert first is second is expected is reference.has_perm("accounts.shop")


def test_may_shop_uses_a_permission_cache_has_perm_already_filled(django_assert_num_queries):
    # given: a member whose permissions Django already loaded
    member = _fresh(MemberFactory())
    assert member.has_perm("accounts.shop")

    # when / then: no query more
    with django_assert_num_queries(0):
        assert may_shop(member) is True


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (MemberFactory, True),
        (lambda: staff("ops_admin"), False),
        (UserFactory, False),
        (_direct_shopper, True),
        (lambda: UserFactory(is_superuser=True), True),
    ],
)
def test_the_token_users_query_brings_the_same_answer(make, expected, django_assert_num_queries):
    # given: an account
    user = make()

    # when: loaded as a bearer token loads it (one precompiled statement)
    with django_assert_num_queries(1):
        loaded = active_user_with_may_shop(user.pk)
        answer = may_shop(loaded)

    # then: the account itself, and Django's own answer, without a second query
    assert loaded.pk == user.pk and loaded.email == user.email
    assert answer is expected is _fresh(user).has_perm("accounts.shop")


def test_the_token_users_query_finds_no_inactive_or_unknown_account() -> None:
    assert active_user_with_may_shop(_inactive_member().pk) is None
    assert active_user_with_may_shop(987654321) is None
