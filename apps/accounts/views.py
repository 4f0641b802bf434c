"""Storefront account pages: sign up, log in, log out, profile, data export, deletion.

Session authentication with CSRF; plain forms, so everything works without JavaScript.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import errors, services
from apps.accounts.auth import mark_sign_in_handled, signed_in_user
from apps.accounts.forms import DeleteAccountForm, LoginForm, ProfileForm, SignupForm
from apps.accounts.selectors import consents_for_display, member_export
from apps.accounts.throttling import throttle_check
from apps.core.errors import DomainError, Throttled
from apps.markets.resolution import remember_choice

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _remember_preferences(request: HttpRequest, response: HttpResponse, user: object) -> HttpResponse:
    """After login/sign-up the profile's language and market become the session's."""
    return remember_choice(
        request, response, language=getattr(user, "locale", None), market=getattr(user, "market_id", None)
    )


def _run_login_hooks(request: HttpRequest, user: object) -> None:
    """Call each ``ACCOUNTS_LOGIN_HOOKS`` entry (a dotted path) with ``(request, user)`` right
    after a storefront sign-in or sign-up: an explicit call, not a signal. Higher apps plug in here
    without accounts importing them (the guest cart merge of ``apps.carts``)."""
    for path in getattr(settings, "ACCOUNTS_LOGIN_HOOKS", ()):
        import_string(path)(request, user)


def _error_status(exc: DomainError) -> int:
    return 429 if isinstance(exc, (Throttled, errors.SignInLocked)) else 400


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return HttpResponseRedirect("/accounts/profile/")
    market = getattr(request, "market", None)
    form = SignupForm(
        request.POST or None,
        initial={
            "market": market.code if market else settings.DEFAULT_MARKET,
            "locale": request.LANGUAGE_CODE,
        },
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            throttle_check("register", request)
            user = services.user_register(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                name=form.cleaned_data["name"],
                market=form.cleaned_data["market"],
                locale=form.cleaned_data["locale"],
                consents=form.consents(),
                source="web",
            )
        except errors.EmailTaken as exc:
            form.add_error("email", exc.detail)
            status = 400
        except errors.PasswordWeak as exc:
            for item in exc.params.get("errors", []):
                form.add_error("password", item["message"])
            status = 400
        except DomainError as exc:
            form.add_error(None, exc.detail)
            status = _error_status(exc)
        else:
            login(request, user, backend=BACKEND)
            _run_login_hooks(request, user)
            messages.success(request, _("Welcome to Joopang, %(name)s!") % {"name": user.get_short_name()})
            return _remember_preferences(request, HttpResponseRedirect(_safe_next(request, "/")), user)
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/signup.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Storefront sign-in. The sign-in policy (per-address rate, per (email, address)
    lockout) runs inside ``login_authenticate``; its refusals are form errors with 429."""
    form = LoginForm(request.POST or None)
    status = 200
    response_headers: dict[str, str] = {}
    if request.method == "POST" and form.is_valid():
        try:
            user = services.login_authenticate(
                email=form.cleaned_data["email"], password=form.cleaned_data["password"], request=request
            )
        except DomainError as exc:
            form.add_error(None, exc.detail)
            status = _error_status(exc)
            response_headers = exc.headers
        else:
            login(request, user, backend=BACKEND)
            _run_login_hooks(request, user)
            return _remember_preferences(
                request, HttpResponseRedirect(_safe_next(request, settings.LOGIN_REDIRECT_URL)), user
            )
    elif request.method == "POST":
        status = 400
    response = render(
        request, "accounts/login.html", {"form": form, "next": _safe_next(request, "")}, status=status
    )
    for key, value in response_headers.items():
        response[key] = value
    mark_sign_in_handled(response)
    return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(settings.LOGOUT_REDIRECT_URL)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = ProfileForm(request.POST or None, initial=ProfileForm.initial_for(user))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.user_profile_update(user=user, **form.changes())
            except DomainError as exc:
                form.add_error(None, exc.detail)
                status = 400
            else:
                messages.success(request, _("Your profile has been saved."))
                return _remember_preferences(request, HttpResponseRedirect("/accounts/profile/"), user)
        else:
            status = 400
    context = {
        "form": form,
        "consents": consents_for_display(user),
        "delete_form": DeleteAccountForm(),
    }
    return render(request, "accounts/profile.html", context, status=status)


@login_required
def profile_export(request: HttpRequest) -> HttpResponse:
    body = json.dumps(member_export(signed_in_user(request)), ensure_ascii=False, indent=2, default=str)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="joopang-my-data.json"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def profile_delete(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = DeleteAccountForm(request.POST)
    if form.is_valid() and user.check_password(form.cleaned_data["password"]):
        services.user_delete(user=user)
        logout(request)
        messages.success(request, _("Your account has been deleted. Thank you for shopping with Joopang."))
        return HttpResponseRedirect("/")
    messages.error(request, str(errors.PasswordIncorrect().detail))
    return HttpResponseRedirect("/accounts/profile/#delete")
