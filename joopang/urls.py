from django.contrib import admin
from django.urls import include, path, re_path

from joopang import errorpages, health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/v1/", include("joopang.api_urls")),
    # Anything else under /api/ is a problem+json 404, even with DEBUG on.
    re_path(r"^api/", errorpages.api_not_found, name="api-not-found"),
    path("admin/", admin.site.urls),
    path("accounts/", include("apps.accounts.urls")),
    path("", include("apps.catalog.urls")),
    path("", include("apps.carts.urls")),
    path("", include("apps.payments.urls")),
    path("", include("apps.coupons.urls")),
    path("", include("apps.orders.urls")),
    path("", include("apps.storefront.urls")),
]

handler400 = errorpages.bad_request
handler403 = errorpages.permission_denied
handler404 = errorpages.page_not_found
handler500 = errorpages.server_error
