from django.urls import path

from apps.coupons.api import views

urlpatterns = [
    path("coupons", views.CouponListApi.as_view(), name="coupons"),
    path("coupons/campaigns", views.CampaignClaimableListApi.as_view(), name="coupon-campaigns"),
    path("coupons/campaigns/<int:id>/claim", views.CampaignClaimApi.as_view(), name="coupon-campaign-claim"),
    path(
        "admin/coupon-campaigns",
        views.AdminCampaignListCreateApi.as_view(),
        name="admin-coupon-campaigns",
    ),
    path("admin/coupon-campaigns/<int:id>", views.AdminCampaignApi.as_view(), name="admin-coupon-campaign"),
    path(
        "admin/coupon-campaigns/<int:id>/stats",
        views.AdminCampaignStatsApi.as_view(),
        name="admin-coupon-campaign-stats",
    ),
    path(
        "admin/coupon-campaigns/<int:id>/revoke",
        views.AdminCampaignRevokeApi.as_view(),
        name="admin-coupon-campaign-revoke",
    ),
]
