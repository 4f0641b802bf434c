"""Locale: profile > explicit > Accept-Language > market default > en.
Market: explicit (?market=, X-Market, cookie) > profile > KR."""

import pytest
from django.test import RequestFactory

from apps.markets.resolution import resolve_language, resolve_market
from apps.markets.selectors import market_get

pytestmark = pytest.mark.django_db


class _User:
    is_authenticated = True

    def __init__(self, locale, market_id):
        self.locale = locale
        self.market_id = market_id


def _request(path="/", user=None, cookies=None, session=None, **headers):
    request = RequestFactory().get(path, **headers)
    request.COOKIES.update(cookies or {})
    request.session = session or {}
    if user is not None:
        request.user = user
    return request


def _resolve(request):
    market = resolve_market(request)
    return market.code, resolve_language(request, market)


def test_defaults_are_kr_market_and_its_korean():
    assert _resolve(_request()) == ("KR", "ko")


def test_accept_language_beats_the_market_default():
    assert _resolve(_request(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9,ko;q=0.5")) == ("KR", "en")
    assert _resolve(_request(HTTP_ACCEPT_LANGUAGE="fr-FR,ko;q=0.5")) == ("KR", "ko")


def test_market_default_applies_when_accept_language_has_nothing_supported():
    assert _resolve(_request("/?market=US", HTTP_ACCEPT_LANGUAGE="fr-FR")) == ("US", "en")


def test_explicit_choice_beats_accept_language():
    assert _resolve(_request("/?lang=ko", HTTP_ACCEPT_LANGUAGE="en")) == ("KR", "ko")
    assert _resolve(_request(cookies={"joopang_lang": "en"}, HTTP_ACCEPT_LANGUAGE="ko")) == ("KR", "en")
    assert _resolve(_request(session={"joopang_lang": "en"}, HTTP_ACCEPT_LANGUAGE="ko")) == ("KR", "en")


def test_profile_beats_explicit_choice():
    user = _User("en", "US")
    assert _resolve(_request("/?lang=ko", user=user, HTTP_ACCEPT_LANGUAGE="ko")) == ("US", "en")


def test_token_claims_act_as_the_profile():
    request = _request(HTTP_ACCEPT_LANGUAGE="ko")
    request.token_claims = {"locale": "en", "market": "US"}
    assert _resolve(request) == ("US", "en")


def test_explicit_market_beats_profile_in_this_order():
    user = _User("ko", "KR")
    assert resolve_market(_request("/?market=US", user=user)).code == "US"
    assert resolve_market(_request(user=user, HTTP_X_MARKET="US")).code == "US"
    assert resolve_market(_request(user=user, cookies={"joopang_market": "US"})).code == "US"
    assert resolve_market(_request("/?market=KR", cookies={"joopang_market": "US"})).code == "KR"


def test_unknown_market_is_ignored_unless_strict():
    from apps.markets.errors import UnknownMarket

    assert resolve_market(_request("/?market=JP")).code == "KR"
    with pytest.raises(UnknownMarket):
        resolve_market(_request("/?market=JP"), strict=True)


def test_middleware_sets_headers(client):
    response = client.get("/cart/", HTTP_ACCEPT_LANGUAGE="en", HTTP_X_MARKET="US")
    assert response["Content-Language"] == "en"
    assert response["X-Market"] == "US"
    assert market_get("us").code == "US"


def test_storefront_query_choice_sticks_in_cookies_but_api_does_not(client):
    response = client.get("/cart/?lang=en&market=US")
    assert response.cookies["joopang_lang"].value == "en"
    assert response.cookies["joopang_market"].value == "US"
    follow = client.get("/cart/")
    assert (follow["Content-Language"], follow["X-Market"]) == ("en", "US")

    api = client.get("/api/v1/categories?lang=ko&market=KR")
    assert "joopang_lang" not in api.cookies and "joopang_market" not in api.cookies


def test_unsupported_query_choice_sets_no_cookie(client):
    response = client.get("/cart/?lang=fr&market=JP")
    assert "joopang_lang" not in response.cookies
    assert "joopang_market" not in response.cookies
