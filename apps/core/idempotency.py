"""Idempotent POSTs: ``@idempotent()`` on a DRF view method is all a view needs.

Flow (API.md "Common rules"):

1. ``idempotency_begin`` inserts ``(caller, key)`` as ``in_progress`` in its own short
   transaction; the unique constraint makes exactly one of two concurrent requests win.
   The loser sees the row: same hash and still running -> ``409 idempotency.in_progress``;
   completed -> the stored response with ``Idempotent-Replayed: true``; another hash ->
   ``422 idempotency.key_reused``.
2. The view runs its use-case (which owns its own transaction).
3. ``idempotency_complete`` stores status, body and headers. Deterministic refusals
   (4xx domain errors) are stored too, so a replay answers the same; an unexpected
   error (5xx) releases the key so the client may retry.

A process that dies between 2 and 3 leaves the key ``in_progress``; after
``IDEMPOTENCY_LOCK_SECONDS`` a retry may take it over. ``locked_until`` is the claim's
fencing token: a takeover moves it, so a superseded attempt that finishes late can
neither release nor complete the key its successor now holds. Money- and stock-moving
use-cases therefore also carry their own unique constraints (e.g. payment token), so a
takeover can never charge twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, connections, router, transaction
from django.db.models import QuerySet
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from apps.core import clock
from apps.core.compiled import insert
from apps.core.errors import (
    DomainError,
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
)
from apps.core.models import IdempotencyKey
from apps.core.problems import as_domain_error, problem_response

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers that describe the transport, not the result: never stored or replayed.
_SKIP_HEADERS = {"content-type", "content-length", "vary", "allow", "content-language", "x-market"}


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any
    headers: dict[str, str]


def caller_of(request: Request) -> str:
    """Keys are scoped to the caller: a user, a system client, or an anonymous client."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    client_id = getattr(request.auth, "client_id", None) if request.auth is not None else None
    if client_id:
        return f"client:{client_id}"
    cart_token = request.headers.get("X-Cart-Token")
    if cart_token:
        return "cart:" + hashlib.sha256(cart_token.encode()).hexdigest()[:40]
    return "anon:" + hashlib.sha256(request.META.get("REMOTE_ADDR", "").encode()).hexdigest()[:40]


def request_hash(request: Request) -> str:
    """Fingerprint of method, path and the parsed body, canonicalised (key order ignored)."""
    data = request.data
    if hasattr(data, "lists"):  # a form QueryDict: keep repeated fields
        data = dict(data.lists())
    payload = json.dumps(data, cls=JSONEncoder, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256()
    for part in ((request.method or "").encode(), request.path.encode(), payload):
        digest.update(part)
        digest.update(b"\x00")
    return digest.hexdigest()


def _validate_key(raw: str | None, *, required: bool) -> str | None:
    if raw is None:
        if required:
            raise IdempotencyKeyRequired()
        return None
    if not 1 <= len(raw) <= 255 or not all(33 <= ord(ch) <= 126 for ch in raw):
        raise IdempotencyKeyInvalid()
    return raw


def _lock_until(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)


def _insert(**fields: Any) -> IdempotencyKey:
    """INSERT the claim: a single autocommit statement (one round trip) outside any
    transaction; inside the caller's, in a savepoint so a duplicate leaves it usable.
    Raises: IntegrityError (the key exists)."""
    if connection.in_atomic_block:
        with transaction.atomic():
            return insert(IdempotencyKey(**fields))
    return insert(IdempotencyKey(**fields))


def idempotency_begin(
    *, caller: str, key: str, req_hash: str, method: str, path: str
) -> Replay | IdempotencyKey:
    """Claim ``key`` for ``caller``; return the claimed row or a stored response to replay.

    The common case, a new key, is one INSERT. Only when the key exists does a transaction
    look at it: an expired row is replaced, a completed one replayed, a dead attempt's
    taken over.

    Locks: the unique index on (caller, key) serialises concurrent claims.
    Raises: idempotency.key_reused, idempotency.in_progress.
    """
    now = clock.now()
    ttl = dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    fields = {
        "caller": caller,
        "key": key,
        "method": method,
        "path": path[:500],
        "request_hash": req_hash,
        "locked_until": _lock_until(now),
        "created_at": now,
        "expires_at": now + ttl,
    }
    try:
        return _insert(**fields)
    except IntegrityError:
        return _claim_existing(fields=fields, now=now)


@transaction.atomic
def _claim_existing(*, fields: dict[str, Any], now: dt.datetime) -> Replay | IdempotencyKey:
    """The key exists: replace it if expired, else replay, refuse, or take it over."""
    caller, key, req_hash = fields["caller"], fields["key"], fields["request_hash"]
    if IdempotencyKey.objects.filter(caller=caller, key=key, expires_at__lte=now).delete()[0]:
        try:
            return _insert(**fields)
        except IntegrityError:  # another request claimed it meanwhile: judge that claim
            pass
    existing = IdempotencyKey.objects.get(caller=caller, key=key)
    if existing.request_hash != req_hash:
        raise IdempotencyKeyReused()
    if existing.state == IdempotencyKey.State.COMPLETED:
        return Replay(existing.response_status or 200, existing.response_body, existing.response_headers)
    if existing.locked_until > now:
        raise IdempotencyInProgress()
    # The first attempt died without finishing: take the key over, compare-and-set.
    taken = IdempotencyKey.objects.filter(
        pk=existing.pk, state=IdempotencyKey.State.IN_PROGRESS, locked_until=existing.locked_until
    ).update(locked_until=_lock_until(now))
    if not taken:
        raise IdempotencyInProgress()
    existing.refresh_from_db()
    return existing


def _own_claim(record: IdempotencyKey) -> QuerySet[IdempotencyKey]:
    """The row while ``record`` still holds it: in progress, with the lock it claimed."""
    return IdempotencyKey.objects.filter(
        pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS, locked_until=record.locked_until
    )


def idempotency_complete(*, record: IdempotencyKey, response: Response) -> None:
    """Store the response of a finished request so replays return it unchanged (a no-op
    when the claim was taken over meanwhile: the successor's outcome is the one kept)."""
    body = json.loads(json.dumps(response.data, cls=JSONEncoder)) if response.data is not None else None
    headers = {k: v for k, v in response.items() if k.lower() not in _SKIP_HEADERS}
    # ``_own_claim(record).update(...)`` as one prepared statement: every create and pay runs it.
    changes = {
        "state": IdempotencyKey.State.COMPLETED,
        "response_status": response.status_code,
        "response_body": body,
        "response_headers": headers,
        "completed_at": clock.now(),
    }
    claim = {"id": record.pk, "state": IdempotencyKey.State.IN_PROGRESS, "locked_until": record.locked_until}
    connection = connections[router.db_for_write(IdempotencyKey)]
    meta: Any = IdempotencyKey._meta
    quote = connection.ops.quote_name
    params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in changes.items()]
    params += [meta.get_field(name).get_db_prep_value(value, connection) for name, value in claim.items()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608 - names from the model, values are parameters
            + ", ".join(f"{quote(name)} = %s" for name in changes)
            + " WHERE "
            + " AND ".join(f"{quote(name)} = %s" for name in claim),
            params,
        )


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Forget a claim whose request failed unexpectedly, so the client can retry (a no-op
    when the claim was taken over meanwhile)."""
    _own_claim(record).delete()


def idempotency_keys_purge(*, now: dt.datetime | None = None) -> int:
    """Delete keys past their expiry; returns how many were removed."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or clock.now()).delete()
    return deleted


def idempotent(*, required: bool = True) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Make a DRF view method (``post``) idempotent under the ``Idempotency-Key`` header.

    Usage::

        class OrderCreateApi(APIView):
            @idempotent()
            def post(self, request): ...
    """

    def decorator(handler: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(handler)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = _validate_key(request.headers.get(HEADER), required=required)
            if key is None:
                return handler(view, request, *args, **kwargs)
            claimed = idempotency_begin(
                caller=caller_of(request),
                key=key,
                req_hash=request_hash(request),
                method=request.method or "POST",
                path=request.path,
            )
            if isinstance(claimed, Replay):
                response = Response(claimed.body, status=claimed.status, headers=claimed.headers)
                response[REPLAYED_HEADER] = "true"
                return response
            try:
                response = handler(view, request, *args, **kwargs)
            except (DomainError, APIException) as exc:
                error = as_domain_error(exc, request)
                if error.http_status >= 500:
                    idempotency_release(record=claimed)
                    raise
                response = problem_response(error, request)
            except Exception:
                idempotency_release(record=claimed)
                raise
            if response.status_code >= 500:
                idempotency_release(record=claimed)
            else:
                idempotency_complete(record=claimed, response=response)
            return response

        return wrapper

    return decorator
