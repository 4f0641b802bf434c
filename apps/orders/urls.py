"""Storefront order pages (the API's routes live in ``apps/orders/api/``)."""

from django.urls import path

from apps.orders import views

app_name = "orders"

urlpatterns = [
    path("checkout/", views.checkout_page, name="checkout"),
    path("orders/", views.order_history, name="list"),
    path("orders/<uuid:public_id>/", views.order_detail, name="detail"),
    path("orders/<uuid:public_id>/complete/", views.order_complete, name="complete"),
    path("orders/<uuid:public_id>/pay", views.order_pay, name="pay"),
    path("orders/<uuid:public_id>/cancel", views.order_cancel, name="cancel"),
    path("orders/<uuid:public_id>/receipt/", views.order_receipt, name="receipt"),
]
