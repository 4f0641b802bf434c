"""Roles sync, permission classes, market-scoped staff, audited role changes in the admin,
operator commands and demo data."""

from __future__ import annotations

import io
import json

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory
from rest_framework.response import Response
from rest_framework.test import force_authenticate
from rest_framework.views import APIView

from apps.accounts import errors, roles, services
from apps.accounts.models import RoleChange, SystemClient, User
from apps.accounts.permissions import HasPerm, IsMember
from apps.accounts.selectors import market_scoped, staff_markets
from apps.core.errors import PermissionDenied as PermissionDeniedError
from tests.accounts.factories import PASSWORD, MemberFactory, UserFactory, staff

pytestmark = pytest.mark.django_db


def perms_of(role: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=role).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_groups_exist_with_exactly_the_declared_permissions():
    expected = roles.declared_grants()

    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLES)
    for role in roles.ROLES:
        assert perms_of(role) == expected[role], role
    assert "accounts.shop" in perms_of("member")
    assert perms_of("data_platform") == expected["data_platform"]


def test_sync_removes_hand_added_permissions_and_collects_app_grants(monkeypatch):
    extra = Permission.objects.get(content_type__app_label="accounts", codename="delete_user")
    Group.objects.get(name="member").permissions.add(extra)
    config = apps.get_app_config("markets")
    monkeypatch.setattr(
        config, "role_grants", {"marketing_manager": ["markets.change_market"]}, raising=False
    )

    counts = roles.roles_sync()

    assert "accounts.delete_user" not in perms_of("member")
    assert "markets.change_market" in perms_of("marketing_manager")
    assert counts["member"] == len(perms_of("member"))


def test_sync_refuses_unknown_permission_or_role(monkeypatch):
    config = apps.get_app_config("markets")
    monkeypatch.setattr(config, "role_grants", {"ops_admin": ["markets.fly_market"]}, raising=False)
    with pytest.raises(roles.RoleGrantError, match=r"markets\.fly_market"):
        roles.roles_sync()
    monkeypatch.setattr(config, "role_grants", {"pilot": []}, raising=False)
    with pytest.raises(roles.RoleGrantError, match="pilot"):
        roles.roles_sync()


def test_sync_roles_command_is_strict_and_reports():
    out = io.StringIO()
    call_command("sync_roles", stdout=out)
    assert "member: 1 permissions" in out.getvalue()


class _Probe(APIView):
    permission_classes = [HasPerm("accounts.view_user")]

    def get(self, request):
        return Response({"ok": True})


def test_has_perm_permission_class():
    factory = RequestFactory()
    cs = staff("cs_agent")
    member = MemberFactory()

    def call(user):
        request = factory.get("/probe")
        if user is not None:
            force_authenticate(request, user=user)
        return _Probe.as_view()(request)

    assert call(cs).status_code == 200
    assert call(member).status_code == 403
    assert call(None).status_code == 401
    assert IsMember().has_permission(type("R", (), {"user": member})(), None) is True
    assert IsMember().has_permission(type("R", (), {"user": cs})(), None) is False
    with pytest.raises(ValueError):
        HasPerm("no_dot")


def test_market_scope_limits_staff_and_is_audited():
    ops = staff("ops_admin")
    cs_kr = staff("cs_agent", market="KR", email="cs.kr@staff.test")
    kr = UserFactory(market_id="KR")
    us = UserFactory(market_id="US")

    assert staff_markets(ops) is None
    assert staff_markets(cs_kr) == {"KR"}
    assert set(market_scoped(User.objects.filter(pk__in=[kr.pk, us.pk]), cs_kr)) == {kr}
    services.staff_market_scope_set(actor=ops, user=cs_kr, market="US")
    fresh = User.objects.get(pk=cs_kr.pk)
    assert staff_markets(fresh) == {"US"}
    change = RoleChange.objects.filter(target=cs_kr, kind="market_scope").latest("pk")
    assert (change.actor, change.old_value, change.new_value) == (ops, "KR", "US")
    with pytest.raises(errors.MarketScopeInvalid):
        services.staff_market_scope_set(actor=ops, user=kr, market="KR")


def test_kr_scoped_cs_agent_sees_only_kr_customers_in_admin(client):
    cs_kr = staff("cs_agent", market="KR", email="cs.kr@staff.test")
    UserFactory(email="kr-shopper@example.test", market_id="KR")
    UserFactory(email="us-shopper@example.test", market_id="US")
    client.force_login(cs_kr)

    page = client.get("/admin/accounts/user/").content.decode()

    assert "kr-shopper@example.test" in page
    assert "us-shopper@example.test" not in page


def test_cs_agent_cannot_change_users_or_roles(client):
    cs = staff("cs_agent")
    target = MemberFactory()
    client.force_login(cs)

    response = client.post(
        f"/admin/accounts/user/{target.pk}/change/", {"email": target.email, "is_staff": "on"}
    )

    assert response.status_code == 403
    target.refresh_from_db()
    assert target.is_staff is False
    assert not RoleChange.objects.filter(target=target).exists()


def test_ops_role_change_in_admin_goes_through_service_and_is_recorded(client):
    ops = staff("ops_admin")
    target = MemberFactory(email="promote@example.test")
    client.force_login(ops)
    page = client.get(f"/admin/accounts/user/{target.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    cs_group = Group.objects.get(name="cs_agent")
    member_group = Group.objects.get(name="member")
    data = {
        "email": target.email,
        "name": target.name,
        "locale": "ko",
        "market": "KR",
        "is_active": "on",
        "is_staff": "on",
        "roles": [str(cs_group.pk), str(member_group.pk)],
        "market_scope": "KR",
        "role_change_reason": "new CS hire",
    }
    assert "roles" in form.fields

    response = client.post(f"/admin/accounts/user/{target.pk}/change/", data)

    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else None
    )
    target.refresh_from_db()
    assert target.is_staff is True
    assert set(target.groups.values_list("name", flat=True)) == {"cs_agent", "member"}
    assert staff_markets(User.objects.get(pk=target.pk)) == {"KR"}
    changes = set(
        RoleChange.objects.filter(target=target).values_list("actor__email", "kind", "new_value", "reason")
    )
    assert changes == {
        (ops.email, "group_added", "cs_agent", "new CS hire"),
        (ops.email, "staff", "True", "new CS hire"),
        (ops.email, "market_scope", "KR", "new CS hire"),
    }
    audit_page = client.get("/admin/accounts/rolechange/")
    assert audit_page.status_code == 200 and "promote@example.test" in audit_page.content.decode()


def test_ops_admin_cannot_take_over_a_superuser_in_admin(client):
    # given: a superuser and an ops_admin who is not one
    root = UserFactory(email="root@staff.test", is_staff=True, is_superuser=True)
    ops = staff("ops_admin")
    client.force_login(ops)

    # when: the ops_admin sets the superuser's password, or changes their email
    password_page = client.post(
        f"/admin/accounts/user/{root.pk}/password/",
        {"password1": "Taken-Over-9876", "password2": "Taken-Over-9876", "usable_password": "true"},
    )
    change = client.post(
        f"/admin/accounts/user/{root.pk}/change/",
        {"email": "ops-owned@staff.test", "name": "", "locale": "ko", "market": "KR", "is_active": "on"},
    )

    # then: both refused, nothing changed; the superuser stays visible read-only
    assert password_page.status_code == 403
    assert change.status_code == 403
    root.refresh_from_db()
    assert root.email == "root@staff.test"
    assert root.check_password(PASSWORD)
    assert client.get(f"/admin/accounts/user/{root.pk}/change/").status_code == 200


def test_superuser_may_still_change_a_superuser_password(client):
    root = UserFactory(email="root@staff.test", is_staff=True, is_superuser=True)
    other = UserFactory(email="root2@staff.test", is_staff=True, is_superuser=True)
    client.force_login(root)

    response = client.post(
        f"/admin/accounts/user/{other.pk}/password/",
        {"password1": "Rotated-Secret-9876", "password2": "Rotated-Secret-9876", "usable_password": "true"},
    )

    assert response.status_code == 302
    other.refresh_from_db()
    assert other.check_password("Rotated-Secret-9876")


def test_market_scoped_ops_cannot_lift_a_scope_through_the_service():
    # given: an ops_admin limited to KR, and a KR-scoped CS agent
    ops_kr = staff("ops_admin", market="KR", email="ops.kr@staff.test")
    cs_kr = staff("cs_agent", market="KR", email="cs.kr@staff.test")
    shopper = MemberFactory(market_id="KR")

    # when / then: lifting their own or the agent's scope, moving it to US, or making an
    # unscoped staff user out of a KR shopper is refused
    for call in (
        lambda: services.staff_market_scope_set(actor=ops_kr, user=ops_kr, market=None),
        lambda: services.user_roles_set(actor=ops_kr, user=cs_kr, market_scope=None),
        lambda: services.user_roles_set(actor=ops_kr, user=cs_kr, market_scope="US"),
        lambda: services.user_roles_set(actor=ops_kr, user=shopper, roles_=["ops_admin"], is_staff=True),
    ):
        with pytest.raises(PermissionDeniedError):
            call()

    # and nothing changed
    assert staff_markets(User.objects.get(pk=ops_kr.pk)) == {"KR"}
    assert staff_markets(User.objects.get(pk=cs_kr.pk)) == {"KR"}
    shopper.refresh_from_db()
    assert shopper.is_staff is False
    assert set(shopper.groups.values_list("name", flat=True)) == {"member"}
    assert not RoleChange.objects.filter(actor=ops_kr).exists()


def test_market_scoped_ops_may_hire_staff_inside_their_market():
    ops_kr = staff("ops_admin", market="KR", email="ops.kr@staff.test")
    shopper = MemberFactory(market_id="KR")

    services.user_roles_set(actor=ops_kr, user=shopper, roles_=["cs_agent"], is_staff=True, market_scope="KR")

    assert staff_markets(User.objects.get(pk=shopper.pk)) == {"KR"}


def test_market_scoped_ops_admin_form_offers_only_their_markets(client):
    ops_kr = staff("ops_admin", market="KR", email="ops.kr@staff.test")
    client.force_login(ops_kr)
    page = client.get(f"/admin/accounts/user/{ops_kr.pk}/change/")
    data = {
        "email": ops_kr.email,
        "name": ops_kr.name,
        "locale": "ko",
        "market": "KR",
        "is_active": "on",
        "is_staff": "on",
        "roles": [str(Group.objects.get(name="ops_admin").pk)],
        "market_scope": "",
    }

    response = client.post(f"/admin/accounts/user/{ops_kr.pk}/change/", data)

    assert [c[0] for c in page.context["adminform"].form.fields["market_scope"].choices] == ["KR"]
    assert response.status_code == 200
    assert "market_scope" in response.context["adminform"].form.errors
    assert staff_markets(User.objects.get(pk=ops_kr.pk)) == {"KR"}


def test_market_scope_on_a_non_staff_user_is_a_form_error_not_a_crash(client):
    ops = staff("ops_admin")
    shopper = MemberFactory(market_id="KR")
    client.force_login(ops)
    data = {
        "email": shopper.email,
        "name": shopper.name,
        "locale": "ko",
        "market": "KR",
        "is_active": "on",
        "roles": [str(Group.objects.get(name="member").pk)],
        "market_scope": "KR",
    }

    response = client.post(f"/admin/accounts/user/{shopper.pk}/change/", data)

    assert response.status_code == 200
    assert "market_scope" in response.context["adminform"].form.errors
    assert staff_markets(User.objects.get(pk=shopper.pk)) is None
    assert not RoleChange.objects.filter(target=shopper).exists()


def test_role_change_audit_is_market_scoped_for_scoped_staff(client):
    # given: role changes of a KR and of a US user, and an ops_admin limited to KR
    ops_kr = staff("ops_admin", market="KR", email="ops.kr@staff.test")
    staff("cs_agent", market="KR", email="cs.kr@staff.test")
    us_agent = staff("cs_agent", market="US", email="cs.us@staff.test")
    User.objects.filter(pk=us_agent.pk).update(market_id="US")
    us_change = RoleChange.objects.filter(target=us_agent).first()
    client.force_login(ops_kr)

    # when
    page = client.get("/admin/accounts/rolechange/").content.decode()
    detail = client.get(f"/admin/accounts/rolechange/{us_change.pk}/change/")

    # then: the KR agent's changes are listed, the US agent's are not, not even by URL
    assert "cs.kr@staff.test" in page
    assert "cs.us@staff.test" not in page
    assert detail.status_code == 302


def test_create_staff_command_creates_then_updates():
    out = io.StringIO()
    call_command(
        "create_staff", "Inv@Joopang.test", "--role", "inventory_manager", "--password", PASSWORD, stdout=out
    )
    call_command(
        "create_staff",
        "inv@joopang.test",
        "--role",
        "cs_agent",
        "--password",
        PASSWORD,
        "--market",
        "US",
        stdout=out,
    )

    user = User.objects.get(email__iexact="inv@joopang.test")
    assert User.objects.filter(email__iexact="inv@joopang.test").count() == 1
    assert user.is_staff and list(user.groups.values_list("name", flat=True)) == ["cs_agent"]
    assert staff_markets(user) == {"US"}
    assert out.getvalue().splitlines() == [
        "created Inv@joopang.test (inventory_manager, all markets)",
        "updated Inv@joopang.test (cs_agent, US)",
    ]
    with pytest.raises(CommandError):
        call_command(
            "create_staff", "x@joopang.test", "--role", "cs_agent", "--password", "p", "--market", "JP"
        )


def test_create_system_client_prints_secret_once_as_json(api_client):
    out = io.StringIO()

    call_command("create_system_client", "Analytics DW", "--role", "data_platform", stdout=out)

    printed = json.loads(out.getvalue())
    client = SystemClient.objects.get(client_id=printed["client_id"])
    assert printed["role"] == "data_platform" and client.name == "Analytics DW"
    assert printed["client_secret"] not in client.secret_hash
    response = api_client.post(
        "/api/v1/auth/token",
        {
            "grant_type": "client_credentials",
            "client_id": printed["client_id"],
            "client_secret": printed["client_secret"],
        },
        format="json",
    )
    assert response.status_code == 200
    assert client.user.groups.get().name == "data_platform"


def test_seed_demo_is_idempotent_and_prints_logins():
    from apps.accounts import demo

    first = demo.seed(stdout=io.StringIO())
    counts = (User.objects.count(), SystemClient.objects.count(), RoleChange.objects.count())
    second = demo.seed(stdout=io.StringIO())

    assert (User.objects.count(), SystemClient.objects.count(), RoleChange.objects.count()) == counts
    assert first == second
    text = "\n".join(first)
    for email in (
        "ops@joopang.test",
        "cs@joopang.test",
        "inventory@joopang.test",
        "marketing@joopang.test",
        "member.kr@joopang.test",
        "member.us@joopang.test",
    ):
        assert email in text
    kr = User.objects.get(email="member.kr@joopang.test")
    us = User.objects.get(email="member.us@joopang.test")
    assert (kr.market_id, kr.locale, us.market_id, us.locale) == ("KR", "ko", "US", "en")
    assert User.objects.get(email="ops@joopang.test").groups.get().name == "ops_admin"
    assert "client_secret=" in text
