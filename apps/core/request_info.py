"""What a request says, read without the work Django's accessors do when it is not needed.

Who is asking, without loading anyone when Django would find no one:

``AuthenticationMiddleware`` sets ``request.user`` to a lazy object; evaluating it reads the
session, and on a request without a session cookie always finds the anonymous user. The
per-request layers that only need "signed in or not" (language and market from the profile,
the log line's ``user_id``, the no-store rule) ask :func:`known_user` first, so a guest's
request never builds a session or an ``AnonymousUser`` only to learn it is a guest.

A query parameter, without building ``request.GET`` for a request that has no query
(:func:`query_get`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import SESSION_KEY
from django.utils.functional import SimpleLazyObject, empty


def is_unloaded_guest(request: Any) -> bool:
    """True when ``request.user`` is still Django's unevaluated lazy user and the request
    has no session key: evaluating it could only give ``AnonymousUser``. Anything else
    (a user set by ``login()``, by DRF's authentication, by a test, a session cookie to
    look up) is ``False``: ask ``request.user`` itself."""
    user = request.__dict__.get("user")
    if type(user) is not SimpleLazyObject or user._wrapped is not empty:
        return False
    session = getattr(request, "session", None)
    if session is None or getattr(session, "session_key", "") is not None:
        return False
    loaded = vars(session).get("_session_cache")  # data put in this request, not saved yet
    return not (loaded and SESSION_KEY in loaded)


def known_user(request: Any) -> Any | None:
    """``request.user`` when it may be someone, ``None`` for a guest known without a
    lookup (:func:`is_unloaded_guest`) or when no authentication ran."""
    if is_unloaded_guest(request):
        return None
    return getattr(request, "user", None)


def query_get(request: Any, name: str) -> str | None:
    """``request.GET.get(name)``; a request without a query string answers ``None`` without
    building ``request.GET`` (a ``GET`` already built or set, by a test or a middleware, is
    read as it is)."""
    if "GET" not in request.__dict__ and not request.META.get("QUERY_STRING"):
        return None
    value: str | None = request.GET.get(name)
    return value
