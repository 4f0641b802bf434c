"""Rate limits for login, registration and the token endpoint.

Fixed-window counters in the cache (Redis in production): ``cache.add`` then
``cache.incr`` are atomic there, so the limit holds across gunicorn workers and hosts
(DRF's SimpleRateThrottle keeps a read-modify-write history list instead). Rates come
from settings (``AUTH_LOGIN_RATE``, ``AUTH_REGISTER_RATE``, ``AUTH_TOKEN_RATE``), each
``"<count>/<second|minute|hour|day>"``; a rate of ``0/...`` or an empty string disables it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from apps.core.errors import Throttled

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
SCOPES = {"login": "AUTH_LOGIN_RATE", "register": "AUTH_REGISTER_RATE", "token": "AUTH_TOKEN_RATE"}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """``"10/minute"`` -> (10, 60); ``None`` when disabled."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    num = int(count)
    if num <= 0:
        return None
    return num, PERIODS[period.strip().lower()]


def client_ip(request: Any) -> str:
    """The caller's address; with ``AUTH_TRUSTED_PROXY_COUNT`` proxies in front, the
    address the outermost trusted proxy saw."""
    hops = settings.AUTH_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops > 0 and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-min(hops, len(addresses))]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def rate_limit_hit(scope: str, ident: str) -> int | None:
    """Count one request; returns seconds to wait when over the limit, else ``None``."""
    parsed = parse_rate(getattr(settings, SCOPES[scope]))
    if parsed is None:
        return None
    limit, period = parsed
    now = time.time()
    window = int(now // period)
    key = f"throttle:{scope}:{ident}:{window}"
    if cache.add(key, 1, timeout=period + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            count = 1
    if count > limit:
        return max(1, math.ceil((window + 1) * period - now))
    return None


def throttle_check(scope: str, request: Any) -> None:
    """Raises: request.throttled (429, ``Retry-After``)."""
    wait = rate_limit_hit(scope, client_ip(request))
    if wait is not None:
        err = Throttled(retry_after=wait)
        err.headers["Retry-After"] = str(wait)
        raise err


class AuthScopeThrottle(BaseThrottle):
    """DRF throttle for a scope of :data:`SCOPES`; set ``throttle_scope`` on the view."""

    def allow_request(self, request: Any, view: Any) -> bool:
        self._wait = rate_limit_hit(view.throttle_scope, client_ip(request))
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
