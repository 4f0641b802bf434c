from django.urls import path

from apps.inventory.api import views

urlpatterns = [
    path("inventory/availability", views.AvailabilityGetApi.as_view(), name="inventory-availability"),
]
