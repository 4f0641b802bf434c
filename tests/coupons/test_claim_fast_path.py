"""The claim API answers what the Redis gate refuses without the database (issue 21: "a
sold-out or duplicate claim is answered from Redis without touching PostgreSQL"): the access
token stands for the member until a claim goes on to be written, and the account is read
then, so a member deactivated or stripped of the member role after signing in still gets
no coupon."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.accounts import roles, tokens
from apps.coupons import services
from apps.coupons.models import Coupon
from apps.coupons.services import gate
from tests.accounts.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.access_token_for(user)}", "HTTP_ACCEPT_LANGUAGE": "en"}


def _claim(api_client, campaign_id: int, headers: dict[str, str]):
    return api_client.post(f"/api/v1/coupons/campaigns/{campaign_id}/claim", **headers)


def _remaining(cache, campaign_id: int) -> int:
    return int(cache._cache.get_client().get(cache.make_key(gate._keys(campaign_id)[0])))


def test_a_sold_out_claim_through_the_api_makes_no_query_and_is_counted(
    api_client, redis_cache, campaign, kr, django_assert_num_queries
):
    # given: a sold-out campaign whose gate is primed, and a member signed in earlier
    c = campaign(total_quantity=1)
    services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    _claim(api_client, c.pk, _bearer(MemberFactory()))  # caches the rules
    headers = _bearer(MemberFactory())

    # when: the member claims
    with django_assert_num_queries(0):
        response = _claim(api_client, c.pk, headers)

    # then: 409 sold out, from Redis alone, and the refusal is in the campaign's stats
    assert (response.status_code, response.json()["code"]) == (409, "coupon.sold_out")
    assert services.rejected_counts(c.pk)["coupon.sold_out"] == 2


def test_a_duplicate_claim_through_the_api_makes_no_query(
    api_client, redis_cache, campaign, django_assert_num_queries
):
    c = campaign(total_quantity=10)
    headers = _bearer(MemberFactory())
    assert _claim(api_client, c.pk, headers).status_code == 201  # primes the gate
    assert _claim(api_client, c.pk, headers).status_code == 409  # caches the rules

    with django_assert_num_queries(0):
        response = _claim(api_client, c.pk, headers)

    assert (response.status_code, response.json()["code"]) == (409, "coupon.already_claimed")
    assert services.rejected_counts(c.pk)["coupon.already_claimed"] == 2
    assert Coupon.objects.filter(campaign=c).count() == 1


def test_a_member_deactivated_after_signing_in_gets_no_coupon_and_the_slot_comes_back(
    api_client, redis_cache, campaign, kr
):
    # given: a running campaign with its gate primed (9 left) and a token issued earlier
    c = campaign(total_quantity=10)
    services.coupon_claim(campaign_id=c.pk, user=MemberFactory(), market=kr)
    member = MemberFactory()
    headers = _bearer(member)
    member.is_active = False
    member.save(update_fields=["is_active"])

    # when: the old token claims
    response = _claim(api_client, c.pk, headers)

    # then: refused before anything is written; the gate's slot is given back
    assert (response.status_code, response.json()["code"]) == (403, "auth.permission_denied")
    assert not Coupon.objects.filter(user=member).exists()
    assert _remaining(redis_cache, c.pk) == 9
    c.refresh_from_db()
    assert c.issued_count == 1


def test_a_member_whose_role_was_taken_away_gets_no_coupon(api_client, redis_cache, campaign):
    c = campaign(total_quantity=10)
    member = MemberFactory()
    headers = _bearer(member)  # the token still says "member"
    member.groups.remove(Group.objects.get(name=roles.MEMBER))

    response = _claim(api_client, c.pk, headers)

    assert (response.status_code, response.json()["code"]) == (403, "auth.permission_denied")
    assert not Coupon.objects.filter(user=member).exists()


def test_without_redis_the_claim_reads_the_account_once_and_still_issues(api_client, campaign):
    # The database path alone (no gate): the token's member is read from the database
    # before the claim writes, and the coupon is issued to that account.
    c = campaign(total_quantity=10)
    member = MemberFactory()

    response = _claim(api_client, c.pk, _bearer(member))

    assert response.status_code == 201
    assert Coupon.objects.get(campaign=c).user == member


def test_a_tampered_token_is_still_refused(api_client, redis_cache, campaign):
    c = campaign(total_quantity=1)
    token = str(tokens.access_token_for(MemberFactory()))
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    response = _claim(api_client, c.pk, {"HTTP_AUTHORIZATION": f"Bearer {forged}"})

    assert (response.status_code, response.json()["code"]) == (401, "auth.authentication_failed")
