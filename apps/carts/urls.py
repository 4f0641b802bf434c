"""Storefront cart pages (the API's routes are in ``apps/carts/api/urls.py``)."""

from django.urls import path

from apps.carts import views

app_name = "carts"

urlpatterns = [
    path("cart/", views.cart_page, name="page"),
    path("cart/add", views.cart_add, name="add"),
    path("cart/items/<str:sku>/update", views.cart_line_update, name="line-update"),
    path("cart/items/<str:sku>/remove", views.cart_line_remove, name="line-remove"),
]
