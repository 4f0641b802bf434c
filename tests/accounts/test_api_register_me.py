"""Sign-up and profile through the API."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.accounts.models import Consent, User
from tests.accounts.conftest import bearer

pytestmark = pytest.mark.django_db

KR_CONSENTS = ["terms", "privacy", "cross_border_transfer"]


def register(api_client, **overrides):
    body = {
        "email": "Minji.Kim@Example.test",
        "password": "Seoul-Station-2026",
        "name": "김민지",
        "market": "KR",
        "locale": "ko",
        "consents": KR_CONSENTS,
    }
    body.update(overrides)
    return api_client.post("/api/v1/auth/register", body, format="json")


def test_register_creates_member_with_consents(api_client):
    response = register(api_client)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "Minji.Kim@example.test"
    assert body["roles"] == ["member"]
    assert body["market"] == "KR" and body["locale"] == "ko"
    user = User.objects.get(pk=body["id"])
    assert user.has_perm("accounts.shop")
    kinds = dict(Consent.objects.filter(user=user).values_list("kind", "granted"))
    assert kinds == {"terms": True, "privacy": True, "cross_border_transfer": True, "marketing": False}


def test_register_email_taken_case_insensitively(api_client):
    assert register(api_client).status_code == 201

    response = register(api_client, email="minji.kim@EXAMPLE.TEST")

    assert response.status_code == 400
    assert response.json()["code"] == "account.email_taken"
    assert User.objects.count() == 1


def test_register_weak_password_localized(api_client):
    response = register(api_client, password="12345678", HTTP_ACCEPT_LANGUAGE="ko")
    response_ko = api_client.post(
        "/api/v1/auth/register",
        {"email": "a@example.test", "password": "12345678", "market": "US", "consents": ["terms", "privacy"]},
        format="json",
        HTTP_ACCEPT_LANGUAGE="ko",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "account.password_weak"
    body = response_ko.json()
    assert body["code"] == "account.password_weak"
    assert {e["code"] for e in body["errors"]} == {"password_too_common", "password_entirely_numeric"}
    assert "비밀번호" in body["detail"]
    assert User.objects.count() == 0


def test_register_kr_requires_cross_border_consent(api_client):
    response = register(api_client, consents=["terms", "privacy"])

    assert response.status_code == 400
    assert response.json()["code"] == "account.consent_required"
    assert response.json()["kinds"] == ["cross_border_transfer"]
    assert User.objects.count() == 0


def test_register_us_does_not_need_cross_border_consent(api_client):
    response = register(api_client, market="US", locale="en", consents=["terms", "privacy", "marketing"])

    assert response.status_code == 201
    assert response.json()["consents"]["marketing"]["granted"] is True


def test_me_requires_login(api_client):
    response = api_client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["code"] == "auth.login_required"


def test_me_patch_updates_profile_and_encrypts_pii(api_client, member):
    bearer(api_client, member)
    address = {
        "recipient": "김민지",
        "line1": "세종대로 110",
        "city": "서울",
        "postal_code": "04524",
        "country": "KR",
    }

    response = api_client.patch(
        "/api/v1/me",
        {
            "name": "Minji",
            "locale": "en",
            "market": "US",
            "phone": "+82 10-1234-5678",
            "default_address": address,
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["phone"] == "+82 10-1234-5678"
    assert body["default_address"]["line1"] == "세종대로 110"
    assert body["default_address"]["line2"] == ""
    member.refresh_from_db()
    assert (member.name, member.locale, member.market_id) == ("Minji", "en", "US")
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, default_address FROM accounts_user WHERE id = %s", [member.pk])
        phone_raw, address_raw = cursor.fetchone()
    assert phone_raw.startswith("gAAAA") and "1234" not in phone_raw
    assert address_raw.startswith("gAAAA") and "세종대로" not in address_raw


def test_me_patch_unknown_market_refused(api_client, member):
    bearer(api_client, member)

    response = api_client.patch("/api/v1/me", {"market": "JP"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "market.unknown"
    member.refresh_from_db()
    assert member.market_id == "KR"


def test_api_language_and_market_follow_token_profile(api_client, member):
    member.locale, member.market_id = "en", "US"
    member.save()
    bearer(api_client, member)

    response = api_client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="ko")

    assert response["Content-Language"] == "en"
    assert response["X-Market"] == "US"


def test_export_contains_profile_and_consents(api_client):
    user_id = register(api_client).json()["id"]
    user = User.objects.get(pk=user_id)
    bearer(api_client, user)

    response = api_client.get("/api/v1/me/export")

    assert response.status_code == 200
    body = response.json()
    assert body["profile"]["email"] == "Minji.Kim@example.test"
    assert [c["kind"] for c in body["consents"]] == ["terms", "privacy", "cross_border_transfer", "marketing"]
    assert "attachment" in response["Content-Disposition"]


def test_delete_me_anonymizes_and_deactivates(api_client, member):
    member.phone = "010-1111-2222"
    member.default_address = {"line1": "x"}
    member.save()
    bearer(api_client, member)

    response = api_client.delete("/api/v1/me")

    assert response.status_code == 204
    member.refresh_from_db()
    assert member.email == f"deleted-{member.pk}@deleted.joopang.invalid"
    assert (member.name, member.phone, member.default_address) == ("", "", None)
    assert member.is_active is False and member.has_usable_password() is False
    assert list(member.groups.all()) == []
    assert User.objects.filter(pk=member.pk).exists()
    assert api_client.get("/api/v1/me").status_code == 401


def test_register_without_consents_names_the_missing_documents_in_the_language(api_client):
    body = {"email": "new@example.test", "password": "Correct-Horse-42", "market": "KR"}

    ko = api_client.post("/api/v1/auth/register", body, format="json", HTTP_ACCEPT_LANGUAGE="ko")
    en = api_client.post(
        "/api/v1/auth/register", {**body, "market": "US"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert ko.status_code == en.status_code == 400
    assert ko.json()["code"] == en.json()["code"] == "account.consent_required"
    assert ko.json()["kinds"] == ["terms", "privacy", "cross_border_transfer"]
    assert ko.json()["detail"] == (
        "계속하려면 필수 항목에 동의해 주세요: 이용약관, 개인정보 처리방침, 개인정보 국외 이전."
    )
    assert en.json()["kinds"] == ["terms", "privacy"]
    assert en.json()["detail"] == (
        "Please accept the required documents to continue: Terms of service, Privacy policy."
    )
    assert not User.objects.filter(email="new@example.test").exists()


def test_delete_me_erases_the_email_from_the_admin_history(api_client, member):
    # given: the back office once changed this member (the admin log keeps str(user))
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from tests.accounts.factories import staff

    ops = staff("ops_admin")
    entry = LogEntry.objects.create(
        user=ops,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(member.pk),
        object_repr=str(member),
        action_flag=CHANGE,
        change_message="[]",
    )
    bearer(api_client, member)

    # when
    api_client.delete("/api/v1/me")

    # then: the entry is kept (who did what, when) but no longer names the member
    entry.refresh_from_db()
    assert entry.object_repr == f"deleted-{member.pk}@deleted.joopang.invalid"
    assert not LogEntry.objects.filter(object_repr__icontains="minji").exists()
