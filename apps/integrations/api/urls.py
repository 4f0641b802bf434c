from django.urls import path

from apps.integrations.api import views

urlpatterns = [
    path("integrations/events", views.EventFeedApi.as_view(), name="integrations-events"),
    path("integrations/redeliveries", views.RedeliveryCreateApi.as_view(), name="integrations-redeliveries"),
    path("integrations/outbox/stats", views.OutboxStatsApi.as_view(), name="integrations-outbox-stats"),
]
