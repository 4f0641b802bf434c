from django.urls import include, path

from tests.core import views

test_patterns = [
    path("validate", views.ValidateApi.as_view()),
    path("domain-error", views.DomainErrorApi.as_view()),
    path("member-only", views.MemberOnlyApi.as_view()),
    path("forbidden", views.ForbiddenApi.as_view()),
    path("throttled", views.ThrottledApi.as_view()),
    path("crash", views.CrashApi.as_view()),
    path("groups", views.GroupCreateApi.as_view()),
]

urlpatterns = [
    path("api/v1/test/", include(test_patterns)),
    path("", include("joopang.urls")),
]

handler400 = "joopang.errorpages.bad_request"
handler403 = "joopang.errorpages.permission_denied"
handler404 = "joopang.errorpages.page_not_found"
handler500 = "joopang.errorpages.server_error"
