from django.urls import path

from apps.analytics.api import views

urlpatterns = [
    path("reports/daily-sales", views.DailySalesReportApi.as_view(), name="reports-daily-sales"),
    path("reports/coupon-usage", views.CouponUsageReportApi.as_view(), name="reports-coupon-usage"),
]
