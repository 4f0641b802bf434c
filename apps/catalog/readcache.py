"""Read caching: the catalog's API payloads and storefront page fragments, in the shared
cache (Redis in production; ``joopang.cache`` makes Redis down a miss).

What is cached, per (kind, market, language, scheme + host + path + query):

- the product list / search API payload and the product detail API payload, without their
  stock fields;
- the rendered content of the category, search, product and home pages, without anything
  per shopper (the fragment is rendered with no request: no user, cart, messages or CSRF
  token can get into it; the token is a placeholder swapped per response).

What is never cached: stock. Every read, hit or miss, reads the stock of what it shows
(one indexed query), so "in stock" / "only 3 left" / "sold out" and the add-to-cart forms
are as fresh as without a cache. An API hit writes the fresh stock into the cached
payload; a page fragment carries the stock it was rendered with (``stock``) and is
served only while the fresh stock reads the same, otherwise it is rendered again.

What makes an entry stale (docs/scaling.md, "Read caching"):

- a catalog write: ``catalog_changed()`` replaces ``VERSION_KEY`` after the commit, and an
  entry built under another version is a miss. Every write that changes what a list or
  a product page shows ends in ``services.listings_refresh`` (prices, sales, names,
  categories, activity), and category edits in ``services.category_cache_clear``: both
  call it. Prices and sale windows are therefore fresh from the commit on;
- a sale boundary: an entry lives only until the next sale start or end of anything it
  shows (and, for cards, the moment a sale's "ends soon" badge appears), so a sale never
  shows after its end;
- time: ``CATALOG_READ_CACHE_SECONDS`` at most, the bound for what no version covers:
  popularity order, new arrivals, coupon badges (campaigns start, end and change in the
  coupons app), FX-converted prices (their rate is cached 60 s already, and their
  listings are refreshed every minute), a replica that was behind when the entry was
  built.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import translation

from apps.core import clock

VERSION_KEY = "catalog:read-version:v1"


def _bump() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)


def catalog_changed() -> None:
    """Make every cached read stale, now and again once the current transaction commits.
    Call after any write that changes what the catalog shows.

    Now: reads in the writing transaction (and tests, whose transactions never commit)
    see the write. After the commit: a read between the two bumps saw the old rows (the
    write was not committed yet) and may have cached them under the first new version."""
    _bump()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_bump)


@dataclass(frozen=True, slots=True)
class Entry:
    version: str
    valid_until: float  # POSIX seconds (``clock.now()``'s)
    ids: tuple[int, ...]  # what the fresh stock read asks for (product or SKU ids)
    stock: Any  # the stock the body was built with (pages); None: the body has no stock
    body: Any


def key_for(kind: str, request: Any) -> str:
    """The entry's key: kind, market, language and the full URL (absolute links in a
    payload depend on scheme and host; the query picks the page)."""
    url = f"{request.scheme}://{request.get_host()}{request.get_full_path()}"
    digest = hashlib.blake2b(url.encode(), digest_size=16).hexdigest()
    return f"catalog:read:{kind}:{request.market.code}:{translation.get_language()}:{digest}"


def read(key: str) -> tuple[Entry | None, str | None]:
    """The entry under ``key`` if still valid, and the current version to build a new one
    under (None: do not cache now: the cache is off, down, or lost the version)."""
    if settings.CATALOG_READ_CACHE_SECONDS <= 0:
        return None, None
    got = cache.get_many([VERSION_KEY, key])
    version = got.get(VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        return None, (version if cache.add(VERSION_KEY, version, None) else None)
    entry = got.get(key)
    if isinstance(entry, Entry) and entry.version == version and clock.now().timestamp() < entry.valid_until:
        return entry, version
    return None, version


def write(
    key: str,
    version: str | None,
    *,
    body: Any,
    ids: Iterable[int],
    stock: Any = None,
    boundaries: Iterable[dt.datetime | None] = (),
) -> Entry | None:
    """Store ``body`` until the next of ``boundaries`` (sale starts and ends of what it
    shows), at most ``CATALOG_READ_CACHE_SECONDS``; returns the entry (None: not stored)."""
    if version is None:
        return None
    now = clock.now().timestamp()
    until = now + settings.CATALOG_READ_CACHE_SECONDS
    for boundary in boundaries:
        if boundary is not None:
            at = boundary.timestamp()
            if now < at < until:
                until = at
    entry = Entry(version, until, tuple(ids), stock, body)
    cache.set(key, entry, max(1, int(until - now) + 1))
    return entry


def replace(key: str, entry: Entry, *, body: Any) -> None:
    """Store more of the same page (``body``) in ``entry``, valid no longer than it was."""
    left = entry.valid_until - clock.now().timestamp()
    if left > 0:
        cache.set(key, dataclasses.replace(entry, body=body), max(1, int(left) + 1))


def stock_signature(available: dict[int, int], ids: Iterable[int]) -> tuple[int, ...]:
    """What a page shows of the stock of ``ids``: sold out (0), in stock (-1) or the count
    left when low; a fragment is reused only while this is unchanged."""
    low = settings.CATALOG_LOW_STOCK_THRESHOLD
    out = []
    for pid in ids:
        n = max(available.get(pid, 0), 0)
        out.append(n if n <= low else -1)
    return tuple(out)


#: Stands for the CSRF token in cached fragments; never a valid token (not base62 only).
CSRF_PLACEHOLDER = "@@csrf-token@@"
