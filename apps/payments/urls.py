"""Storefront wallet pages (the API's routes live in ``apps/payments/api/``)."""

from django.urls import path

from apps.payments import views

app_name = "payments"

urlpatterns = [
    path("wallet/", views.wallet_page, name="wallet"),
    path("wallet/methods/", views.methods_page, name="methods"),
    path("wallet/methods/<uuid:public_id>/remove", views.method_remove, name="method-remove"),
]
