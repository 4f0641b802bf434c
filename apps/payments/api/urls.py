from django.urls import path

from apps.payments.api import views

urlpatterns = [
    path("wallet", views.WalletGetApi.as_view(), name="wallet"),
    path("wallet/transactions", views.TransactionListApi.as_view(), name="wallet-transactions"),
    path("wallet/top-ups", views.TopUpCreateApi.as_view(), name="wallet-top-ups"),
    path("wallet/top-ups/<str:id>", views.TopUpGetApi.as_view(), name="wallet-top-up"),
    path("payment-methods", views.PaymentMethodsApi.as_view(), name="payment-methods"),
    path("payment-methods/<str:id>", views.PaymentMethodApi.as_view(), name="payment-method"),
    path(
        "internal/wallets/<int:user_id>/adjustments",
        views.WalletAdjustmentCreateApi.as_view(),
        name="internal-wallet-adjustments",
    ),
]
