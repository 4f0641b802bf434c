"""The signed-in user of a request, typed as the project's User model.

``request.user`` is ``User | AnonymousUser`` to a type checker even where the view
already requires a signed-in person (``login_required``, the admin, DRF's ``IsPerson``).
Those views read the user through :func:`signed_in_user`, which says so once, checked.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from apps.accounts.models import User
from apps.core.errors import LoginRequired


def signed_in_user(request: HttpRequest | Request) -> User:
    """``request.user`` for a view that requires login.

    Raises: auth.login_required when the request has no signed-in user (a view that
    forgot its login requirement fails closed instead of acting on an anonymous user).
    """
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise LoginRequired()
    return user
