"""URLs of the benchmark server: the project's URLs plus the baseline view.

``joopang.settings.bench`` sets ``ROOT_URLCONF = "bench.urls"``; production settings
never do, so ``/bench/baseline/<pk>`` and ``/bench/reserve-release`` do not exist there.
"""

from django.urls import include, path

from bench import views
from joopang.urls import handler400, handler403, handler404, handler500  # noqa: F401

urlpatterns = [
    path("bench/baseline/<int:pk>", views.baseline, name="bench-baseline"),
    path("bench/reserve-release", views.reserve_release, name="bench-reserve-release"),
    path("", include("joopang.urls")),
]
