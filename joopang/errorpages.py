"""Django error handlers: problem+json under ``/api/``, localized pages elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core import errors
from apps.core.problems import problem_json_response


def _respond(request: HttpRequest, error: errors.DomainError) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_json_response(error, request)
    return render(request, "error.html", {"error": error}, status=error.http_status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(request, errors.RequestMalformed())


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/admin/"):  # the back office's own page, with its way back
        from joopang.admin_site import permission_denied as admin_permission_denied

        return admin_permission_denied(request)
    return _respond(request, errors.PermissionDenied())


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(request, errors.NotFound())


def server_error(request: HttpRequest) -> HttpResponse:
    error = errors.ServerError()
    if request.path.startswith("/api/"):
        return problem_json_response(error, request)
    # The template context processors may be what failed: keep this page self-contained.
    return render(request, "500.html", {"error": error}, status=500)
