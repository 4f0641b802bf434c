"""The project's routes plus views that raise Django's request-level exceptions, to show
that an exception raised anywhere is answered with the right status and format."""

from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.http import Http404, HttpRequest, HttpResponse, UnreadablePostError
from django.urls import include, path
from rest_framework.decorators import api_view, authentication_classes, permission_classes

from joopang import errorpages

RAISES = {
    "http404": Http404,
    "permission": PermissionDenied,
    "suspicious": SuspiciousOperation,
    "bad-request": BadRequest,
    "too-big": RequestDataTooBig,
    "too-many": TooManyFieldsSent,
    "unreadable": UnreadablePostError,
    "recursion": RecursionError,
}


def raising_view(request: HttpRequest, kind: str) -> HttpResponse:
    raise RAISES[kind]("raised by a view")


@api_view(["GET", "POST"])
@authentication_classes([])
@permission_classes([])
def raising_api_view(request: HttpRequest, kind: str) -> HttpResponse:
    raise RAISES[kind]("raised by an API view")


urlpatterns = [
    path("api/v1/test-raise/<str:kind>", raising_api_view),
    path("raise/<str:kind>", raising_view),
    path("", include("joopang.urls")),
]

handler400 = errorpages.bad_request
handler403 = errorpages.permission_denied
handler404 = errorpages.page_not_found
handler500 = errorpages.server_error


class RaisingMiddleware:
    """Raises the exception named by ``X-Raise`` (placed after the guard, like a session or
    CSRF middleware reading input)."""

    def __init__(self, get_response):  # type: ignore[no-untyped-def]
        self.get_response = get_response

    def __call__(self, request):  # type: ignore[no-untyped-def]
        kind = request.headers.get("X-Raise")
        if kind:
            raise RAISES[kind]("raised by a middleware")
        return self.get_response(request)
