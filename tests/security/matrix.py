"""Shared parts of the role matrix (tests/security/test_rbac_matrix*.py): the objects the
requests name, built once per module inside a transaction rolled back after it, the
callers, and the admin model views' check. See tests/security/test_rbac_matrix.py."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts import tokens
from apps.accounts.roles import roles_sync
from apps.accounts.services.profiles import consent_record
from apps.carts import services as cart_services
from apps.core import clock
from apps.coupons import services as coupon_services
from apps.integrations.models import DeliveryAttempt, DeliveryAttemptEvent
from apps.markets.models import Market
from apps.orders import services as order_services
from apps.payments.providers import reset_provider
from apps.payments.providers.sandbox import SandboxServer
from tests.accounts.factories import MemberFactory, staff, system_client
from tests.accounts.test_rbac import ADMIN_TABLE, ROLES
from tests.carts.factories import stocked
from tests.catalog.factories import BrandFactory
from tests.coupons.factories import active_campaign
from tests.payments.factories import funded_wallet, method_for
from tests.security.route_table import ADMIN_WRITES

LOGINS = ("/accounts/login/", "/admin/login/")
OUTSIDE = "203.0.113.9"  # TEST-NET-3: outside the metrics allow-list
ADDRESS = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}
NON_STAFF = ("guest", "member", "data_platform")


# --- the data ------------------------------------------------------------------------------


class World:
    """The objects the requests name, built once for the module (rolled back after it)."""

    callers: dict[str, Any]
    objects: dict[str, Any]


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    sandbox = SandboxServer(port=0).start()
    overrides = override_settings(
        PAYMENT_PROVIDER_URL=sandbox.url, PAYMENT_PROVIDER_READ_TIMEOUT=2.0, PAYMENT_PROVIDER_RETRY_ATTEMPTS=2
    )
    overrides.enable()
    reset_provider()
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer._from_testcase = True  # as TestCase.setUpClass's: durable blocks may run inside
        outer.__enter__()
        try:
            yield _build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            overrides.disable()
            reset_provider()
            sandbox.stop()


def _build_world() -> World:
    roles_sync(strict=True)
    kr = Market.objects.get(code="KR")
    world = World()
    client_row, _ = system_client("matrix data platform")
    member = MemberFactory(email="matrix-member@example.test")
    consent_record(user=member, kind="terms", granted=True)
    world.callers = {
        "guest": None,
        "member": member,
        **{role: staff(role, email=f"matrix-{role}@staff.test") for role in ROLES[2:6]},
        "data_platform": client_row.user,
    }
    product, sku = stocked(kr=12900)
    ops = world.callers["ops_admin"]
    campaign = active_campaign(actor=ops, total_quantity=100)
    coupon = coupon_services.coupon_claim(campaign_id=campaign.pk, user=member, market=kr)
    method = method_for(member, kr)
    funded_wallet(member, kr, 200_000)
    paid = _order(member, kr, sku, coupon_id=str(coupon.public_id))
    order_services.order_pay_wallet(
        order_id=str(paid.public_id), user=member, idempotency_key=str(uuid.uuid4())
    )
    by_card = _order(member, kr, sku)
    order_services.order_pay_method(
        order_id=str(by_card.public_id),
        user=member,
        payment_method_id=str(method.public_id),
        idempotency_key=str(uuid.uuid4()),
    )
    pending = _order(member, kr, sku)
    cart = cart_services.member_cart_get_or_create(user=member, market=kr)
    cart_services.cart_item_add(cart=cart, sku_code=sku, quantity=1, market=kr)
    tokens.refresh_token_for(member).blacklist()
    _extra_admin_rows()
    world.objects = {
        "product": product,
        "sku": sku,
        "category": product.category,
        "campaign": campaign,
        "method": method,
        "paid": paid,
        "pending": pending,
    }
    return world


def _order(member: Any, market: Market, sku: str, **extra: Any) -> Any:
    return order_services.order_place(
        user=member,
        market=market,
        idempotency_key=str(uuid.uuid4()),
        items=[{"sku": sku, "quantity": 1}],
        shipping_address=dict(ADDRESS),
        **extra,
    ).order


def _extra_admin_rows() -> None:
    """One row for each admin model no flow above writes."""
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )
    from django_celery_results.models import GroupResult, TaskResult

    from apps.analytics.services import aggregates_rebuild
    from apps.core.models import OutboxEvent

    BrandFactory()
    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(
        name="matrix task", defaults={"task": "matrix.task", "interval": interval}
    )
    CrontabSchedule.objects.create(minute="0")
    ClockedSchedule.objects.create(clocked_time=clock.now())
    SolarSchedule.objects.create(event="sunrise", latitude=37.5, longitude=127.0)
    TaskResult.objects.create(task_id=str(uuid.uuid4()), status="SUCCESS")
    GroupResult.objects.create(group_id=str(uuid.uuid4()))
    today = clock.now().date()
    aggregates_rebuild(start=today - dt.timedelta(days=1), end=today + dt.timedelta(days=1))
    event = OutboxEvent.objects.order_by("pk").first()
    attempt = DeliveryAttempt.objects.create(
        worker="matrix@host", started_at=clock.now(), outcome="delivered", event_count=1
    )
    DeliveryAttemptEvent.objects.create(attempt=attempt, event=event)


# --- the requests --------------------------------------------------------------------------


def outcome(response: Any) -> str:
    status = response.status_code
    if 200 <= status < 300:
        return "ok"
    if 300 <= status < 400:
        location = response.get("Location", "")
        return "login" if location.split("?")[0].endswith(LOGINS) else "redirect"
    if status >= 500:
        return f"5xx ({status})"
    return str(status)


def _client(world: World, role: str) -> Client:
    client = Client()
    user = world.callers[role]
    if user is not None:
        client.force_login(user)
    return client


def run(world: World, role: str, method: str, path: str) -> str:
    response = _client(world, role).generic(
        method, path, data="", content_type="application/x-www-form-urlencoded", REMOTE_ADDR=OUTSIDE
    )
    return outcome(response)


def _admin_expected(label: str, view: str, role: str) -> str:
    if role in NON_STAFF:
        return "login"
    if view == "view_redirect":  # /admin/<app>/<model>/<id>/: Django's redirect to its change page
        return "redirect"
    may = ADMIN_TABLE[label][role] if view == "history" else role in ADMIN_WRITES[label][view]
    if not may:
        return "403"
    return "written" if view == "change" else "ok"


def _admin_path(label: str, view: str, obj: Any) -> str:
    app_label, model_name = label.split(".")
    if view == "add":
        return reverse(f"admin:{app_label}_{model_name}_add")
    if view == "view_redirect":
        return f"/admin/{app_label}/{model_name}/{obj.pk}/"
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=[obj.pk])


def check_admin_views(world: World, label: str, views: tuple[str, ...]) -> None:
    """One request per (view, role) on the first ``label`` row; every difference from the
    rules is reported at once."""
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {label} row to open: add one in tests/security/matrix.py _build_world"

    actual, expected = {}, {}
    for view in views:
        path = _admin_path(label, view, obj)
        # a write: an empty form posted to the change page (403 without change permission;
        # with it, the form again with its errors, or saved when every field it shows is
        # read-only); the others are GETs
        method = "POST" if view == "change" else "GET"
        for role in ROLES:
            got = run(world, role, method, path)
            if view == "change" and got in ("ok", "redirect"):
                got = "written"
            actual[(view, role)] = got
            expected[(view, role)] = _admin_expected(label, view, role)

    wrong = {key: got for key, got in actual.items() if got != expected[key]}
    assert wrong == {}, {"expected": {key: expected[key] for key in wrong}}
