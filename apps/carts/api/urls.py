from django.urls import path

from apps.carts.api import views

urlpatterns = [
    path("carts", views.CartCreateApi.as_view(), name="carts-create"),
    path("carts/current", views.CartGetApi.as_view(), name="carts-current"),
    path("carts/current/items", views.CartItemAddApi.as_view(), name="carts-items"),
    path("carts/current/items/<str:sku>", views.CartItemApi.as_view(), name="carts-item"),
    path("carts/current/totals", views.CartTotalsApi.as_view(), name="carts-totals"),
    path("carts/current/merge", views.CartMergeApi.as_view(), name="carts-merge"),
]
