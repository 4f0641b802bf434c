"""The aggregates in the back office: lists for their readers, read-only for everyone
(superusers included), amounts in the market's currency."""

from __future__ import annotations

import pytest
from django.contrib import admin

from apps.analytics import services
from apps.analytics.models import CouponUsageDaily, DailySales
from tests.accounts.factories import UserFactory, staff
from tests.analytics.test_reports import FIRST, LAST

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [DailySales, CouponUsageDaily], ids=lambda m: m._meta.label)
def test_the_aggregates_are_read_only_even_for_ops_and_superusers(client, model):
    root = UserFactory(email="root-analytics@staff.test", is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[model]
    base = f"/admin/analytics/{model._meta.model_name}/"

    for user in (staff("ops_admin"), root):
        client.force_login(user)
        request = type("R", (), {"user": user, "method": "GET"})()
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, None)
        assert not model_admin.has_delete_permission(request, None)
        listing = client.get(base)
        assert listing.status_code == 200
        assert f"{base}add/" not in listing.content.decode()
        assert client.get(f"{base}add/").status_code == 403


def test_ops_sees_daily_sales_in_the_markets_currency(client, scenario):
    services.aggregates_rebuild(start=FIRST, end=LAST)
    a = scenario.orders["A"]
    client.force_login(staff("ops_admin"))

    html = client.get("/admin/analytics/dailysales/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f"₩{a.subtotal + a.shipping_fee:,}" in html  # KR Nov 29's gross
    assert "$" in html


def test_marketing_reads_coupon_usage_but_not_daily_sales(client, scenario):
    services.aggregates_rebuild(market="KR", start=FIRST, end=LAST)
    client.force_login(staff("marketing_manager"))

    usage = client.get("/admin/analytics/couponusagedaily/")
    sales = client.get("/admin/analytics/dailysales/")

    assert usage.status_code == 200
    assert "50.00" in usage.content.decode()  # Nov 30: one of two coupons used
    assert sales.status_code == 403
