"""The signed-in user of a request, typed as the project's User model; and the sign-in
policy's hooks into Django's authentication (rate-limit backend, axes callables).

``request.user`` is ``User | AnonymousUser`` to a type checker even where the view
already requires a signed-in person (``login_required``, the admin, DRF's ``IsPerson``).
Those views read the user through :func:`signed_in_user`, which says so once, checked.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from rest_framework.request import Request

from apps.accounts.errors import SignInLocked
from apps.accounts.models import User
from apps.accounts.throttling import client_address, client_ip, rate_limit_hit, throttled_error
from apps.core import clock
from apps.core.errors import DomainError, LoginRequired
from apps.core.problems import problem_json_response


def signed_in_user(request: HttpRequest | Request) -> User:
    """``request.user`` for a view that requires login.

    Raises: auth.login_required when the request has no signed-in user (a view that
    forgot its login requirement fails closed instead of acting on an anonymous user).
    """
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise LoginRequired()
    return user


# --- Sign-in policy (issue 16; docs/adr/0004-sign-in-policy.md) ---------------------------
#
# Every way in (API password grant, storefront login, admin login) ends in Django's
# ``authenticate(request, username=..., password=...)``. AUTHENTICATION_BACKENDS put two
# gates in front of the password check, in this order:
#
# 1. :class:`SignInRateBackend`: at most ``AUTH_LOGIN_RATE`` attempts per client address
#    (sliding windows, apps.accounts.throttling), whatever the email;
# 2. axes' ``AxesStandaloneBackend``: no attempt for an (email, client address) pair that
#    failed ``AUTH_LOCKOUT_THRESHOLD`` times within ``AUTH_LOCKOUT_MINUTES``.
#
# A refused attempt makes ``authenticate`` return ``None`` with ``request.axes_locked_out``
# set (and ``request.sign_in_throttle_wait`` for the rate limit). Our own views turn that
# into their answer (OAuth error, form error) and mark the response handled; for views we
# do not own (the admin login) axes' middleware calls :func:`sign_in_lockout_response`.


def axes_username(request: Any, credentials: dict[str, Any] | None = None) -> str | None:
    """The email of an attempt as axes keys it: trimmed and lower-cased (emails are unique
    case-insensitively, so ``Minji@…`` and ``minji@…`` are one pair), at most 254 characters."""
    value = (credentials or {}).get("username")
    if value is None:
        data = getattr(request, "POST", None) or {}
        value = data.get("username") or data.get("email")
    if value is None:
        return None
    return str(value).strip().lower()[:254]


def axes_failure_limit(request: Any = None, credentials: Any = None) -> int:
    """``AXES_FAILURE_LIMIT``: ``AUTH_LOCKOUT_THRESHOLD``, read when used (0 = no lockout)."""
    threshold = int(settings.AUTH_LOCKOUT_THRESHOLD)
    return threshold if threshold > 0 else 2**31


def axes_cool_off(request: Any = None) -> timedelta:
    """``AXES_COOLOFF_TIME``: ``AUTH_LOCKOUT_MINUTES``, read when used."""
    return timedelta(minutes=int(settings.AUTH_LOCKOUT_MINUTES))


def axes_client_ip(request: Any) -> str | None:
    """The client address axes keys attempts by: the throttles' address (trusted proxies,
    IPv6 /64), or ``None`` when the request has none."""
    return client_address(request)


class SignInRateBackend:
    """The per-address limit on sign-in attempts, in front of every other backend.

    Authenticates nobody: it counts the attempt against ``AUTH_LOGIN_RATE`` for the client
    address and, over the limit, stops ``authenticate`` (``PermissionDenied``) before any
    password is checked. It also tells axes the attempt was refused, not failed, so a
    throttled attempt never counts towards an (email, address) lockout.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None  # axes' backend (next) refuses request-less sign-ins
        wait = rate_limit_hit("login", client_ip(request))
        if wait is not None:
            request.sign_in_throttle_wait = wait  # type: ignore[attr-defined]
            request.axes_locked_out = True  # type: ignore[attr-defined]
            raise PermissionDenied("sign-in rate limit")
        return None


def sign_in_lock_seconds(request: HttpRequest, username: str | None) -> int:
    """Seconds until the (email, address) pair of this request may try again (>= 1)."""
    cool_off = axes_cool_off()
    now = getattr(request, "axes_attempt_time", None) or clock.now()  # axes' time of this attempt
    last = AccessAttempt.objects.filter(
        username=axes_username(request, {"username": username}),
        ip_address=axes_client_ip(request),
        attempt_time__gt=now - cool_off,
    ).aggregate(last=Max("attempt_time"))["last"]
    if last is None:
        return int(cool_off.total_seconds())
    return max(1, math.ceil((last + cool_off - now).total_seconds()))


def sign_in_refusal(request: HttpRequest, username: str | None) -> DomainError | None:
    """The error for an attempt the policy refused (throttled or locked), else ``None``."""
    wait = getattr(request, "sign_in_throttle_wait", None)
    if wait is not None:
        return throttled_error(wait)
    if getattr(request, "axes_locked_out", False):
        seconds = sign_in_lock_seconds(request, username)
        err = SignInLocked(minutes=max(1, math.ceil(seconds / 60)))
        err.headers["Retry-After"] = str(seconds)
        return err
    return None


def mark_sign_in_handled(response: HttpResponseBase) -> HttpResponseBase:
    """Tell :func:`sign_in_lockout_response` that this view answered the refusal itself."""
    response.sign_in_policy_answered = True  # type: ignore[attr-defined]
    return response


def sign_in_lockout_response(
    request: HttpRequest, original_response: HttpResponseBase | None = None, credentials: Any = None
) -> HttpResponseBase:
    """``AXES_LOCKOUT_CALLABLE``: the answer to a refused sign-in where a view did not give one.

    - our views (token endpoint, storefront login) answered already: their response stands;
    - the admin login page: the page itself, with the refusal as a form error, 429;
    - anything else: problem+json under ``/api/``, else a plain 429.
    The answer depends on the address and the submitted email only, never on whether an
    account exists.
    """
    if original_response is not None and getattr(original_response, "sign_in_policy_answered", False):
        return original_response
    username = axes_username(request, credentials if isinstance(credentials, dict) else None)
    error = sign_in_refusal(request, username) or SignInLocked(minutes=settings.AUTH_LOCKOUT_MINUTES)
    context = getattr(original_response, "context_data", None)
    form = context.get("form") if isinstance(context, dict) else None
    if isinstance(original_response, TemplateResponse) and form is not None and hasattr(form, "add_error"):
        form.errors.pop("__all__", None)  # "wrong email or password" would be misleading
        form.add_error(None, error.detail)
        original_response.content = original_response.rendered_content
        original_response.status_code = error.http_status
        response: HttpResponseBase = original_response
    elif request.path.startswith("/api/"):
        response = problem_json_response(error, request)
    else:
        response = HttpResponse(
            error.detail, status=error.http_status, content_type="text/plain; charset=utf-8"
        )
    for key, value in error.headers.items():
        response[key] = value
    return mark_sign_in_handled(response)
