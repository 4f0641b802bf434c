"""Storefront account pages (Django test client; the browser test covers the happy path)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.accounts.models import User
from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db


def signup_data(**overrides):
    data = {
        "email": "seo@example.test",
        "name": "서연",
        "password": "Gyeongbok-Palace-9",
        "market": "KR",
        "locale": "ko",
        "accept_terms": "on",
        "accept_privacy": "on",
        "accept_cross_border_transfer": "on",
    }
    data.update(overrides)
    return data


def test_pages_render_in_both_languages(client):
    ko = client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    en = client.get("/accounts/login/?lang=en").content.decode()

    assert "주팡 계정 만들기" in ko and 'lang="ko"' in ko
    assert "Log in to Joopang" in en and 'lang="en"' in en


def test_signup_without_cross_border_consent_for_kr_is_refused(client):
    response = client.post(
        "/accounts/signup/", signup_data(accept_cross_border_transfer=""), HTTP_ACCEPT_LANGUAGE="ko"
    )

    assert response.status_code == 400
    assert "cross_border_transfer" in response.content.decode()
    assert not User.objects.exists()


def test_signup_weak_password_shows_localized_reasons(client):
    response = client.post("/accounts/signup/", signup_data(password="12345678"), HTTP_ACCEPT_LANGUAGE="ko")

    assert response.status_code == 400
    assert "비밀번호" in response.content.decode()
    assert not User.objects.exists()


def test_signup_logs_in_and_sets_preferences(client):
    response = client.post(
        "/accounts/signup/", signup_data(market="US", locale="en", accept_cross_border_transfer="")
    )

    assert response.status_code == 302
    user = User.objects.get(email="seo@example.test")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert response.cookies["joopang_market"].value == "US"
    assert response.cookies["joopang_lang"].value == "en"


def test_login_requires_csrf_token(member):
    csrf_client = Client(enforce_csrf_checks=True)

    response = csrf_client.post("/accounts/login/", {"email": member.email, "password": PASSWORD})

    assert response.status_code == 403
    assert "_auth_user_id" not in csrf_client.session


def test_logout_only_by_post(client, member):
    client.force_login(member)

    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/profile/").status_code == 302


def test_profile_requires_login_and_saves(client, member):
    assert client.get("/accounts/profile/")["Location"].startswith("/accounts/login/")
    client.force_login(member)

    response = client.post(
        "/accounts/profile/",
        {
            "name": "민지",
            "locale": "en",
            "market": "US",
            "phone": "010-2222-3333",
            "line1": "Gangnam-daero 1",
        },
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.name, member.locale, member.market_id, member.phone) == (
        "민지",
        "en",
        "US",
        "010-2222-3333",
    )
    assert member.default_address["line1"] == "Gangnam-daero 1"


def test_header_switcher_updates_signed_in_profile(client, member):
    client.force_login(member)

    client.post("/preferences", {"language": "en", "market": "US", "next": "/"})

    member.refresh_from_db()
    assert (member.locale, member.market_id) == ("en", "US")


def test_export_download(client, member):
    client.force_login(member)

    response = client.get("/accounts/profile/export/")

    assert response["Content-Disposition"] == 'attachment; filename="joopang-my-data.json"'
    assert json.loads(response.content)["profile"]["email"] == "minji@example.test"


def test_delete_needs_password_then_anonymizes(client, member):
    client.force_login(member)

    wrong = client.post("/accounts/profile/delete/", {"password": "nope"})
    assert User.objects.get(pk=member.pk).is_active is True
    right = client.post("/accounts/profile/delete/", {"password": PASSWORD})

    assert wrong.status_code == 302 and right.status_code == 302
    member.refresh_from_db()
    assert member.is_active is False and member.email.startswith("deleted-")
    assert "_auth_user_id" not in client.session
