from django.urls import path

from apps.storefront import views

app_name = "storefront"

urlpatterns = [
    path("", views.home, name="home"),
    path("preferences", views.preferences_set, name="preferences"),
]
