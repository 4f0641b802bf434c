from django.urls import path

from apps.orders.api import views

urlpatterns = [
    path("orders", views.OrdersApi.as_view(), name="orders"),
    path("orders/<str:id>", views.OrderGetApi.as_view(), name="order"),
    path("orders/<str:id>/payments", views.OrderPaymentCreateApi.as_view(), name="order-payments"),
    path("orders/<str:id>/cancel", views.OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/<str:id>/refunds", views.OrderRefundCreateApi.as_view(), name="order-refunds"),
    path(
        "internal/orders/<str:id>/transitions",
        views.OrderTransitionApi.as_view(),
        name="internal-order-transitions",
    ),
]
