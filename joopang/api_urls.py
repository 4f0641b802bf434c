"""``/api/v1/``: every app's API routes, plus the OpenAPI schema and Swagger UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    # The split view serves Swagger UI's start-up script from ``docs/?script``: the page
    # has no inline script, so the Content-Security-Policy needs no exception for it.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.catalog.api.urls")),
    path("", include("apps.inventory.api.urls")),
    path("", include("apps.carts.api.urls")),
    path("", include("apps.coupons.api.urls")),
    path("", include("apps.payments.api.urls")),
    path("", include("apps.orders.api.urls")),
    path("", include("apps.analytics.api.urls")),
    path("", include("apps.integrations.api.urls")),
]
