"""Storefront coupon pages (the API's routes live in ``apps/coupons/api/``)."""

from django.urls import path

from apps.coupons import views

app_name = "coupons"

urlpatterns = [
    path("coupons/", views.zone_page, name="zone"),
    path("coupons/mine/", views.mine_page, name="mine"),
    path("coupons/campaigns/<int:campaign_id>/claim", views.claim, name="claim"),
]
