from django.urls import path

from apps.accounts.api import views

urlpatterns = [
    path("auth/register", views.AuthRegisterApi.as_view(), name="auth-register"),
    path("auth/token", views.AuthTokenApi.as_view(), name="auth-token"),
    path("me", views.MeApi.as_view(), name="me"),
    path("me/export", views.MeExportApi.as_view(), name="me-export"),
]
