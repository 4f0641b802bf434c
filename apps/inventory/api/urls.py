from django.urls import path

from apps.inventory.api import views

urlpatterns = [
    path("inventory/availability", views.AvailabilityGetApi.as_view(), name="inventory-availability"),
    path("inventory/stock/<str:sku>", views.StockGetApi.as_view(), name="inventory-stock"),
    path("inventory/adjustments", views.StockAdjustmentsApi.as_view(), name="inventory-adjustments"),
]
