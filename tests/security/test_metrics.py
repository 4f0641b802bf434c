"""Issue 16 item 4: labels fed from the request take a bounded set of values, so random
methods and paths cannot grow /metrics."""

from __future__ import annotations

import random
import string

import pytest

pytestmark = pytest.mark.django_db


def _series(client) -> set[str]:  # type: ignore[no-untyped-def]
    text = client.get("/metrics").content.decode()
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def _random_method(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(rng.randint(3, 10)))


def test_500_random_methods_leave_the_number_of_series_unchanged(client):
    rng = random.Random(16)
    # Warm up: one made-up method on each path creates the "other" and 405/404 series.
    for path in ("/healthz", "/api/v1/products", "/nope/", "/"):
        client.generic("M123", path)
    _series(client)  # the first scrape adds the scrape's own series
    before = _series(client)
    for _ in range(500):
        client.generic(_random_method(rng), rng.choice(["/healthz", "/api/v1/products", "/nope/", "/"]))
    after = _series(client)
    assert len(after) == len(before), sorted(after - before)[:20]
    assert not any("M123" in s for s in after)
    assert any('method="other"' in s for s in after)


def test_random_paths_leave_the_number_of_series_unchanged(client):
    rng = random.Random(61)
    client.get("/warm-up-unknown-path/")
    client.get("/api/v1/warm-up-unknown")
    _series(client)
    before = _series(client)
    for _ in range(200):
        tail = "".join(rng.choice(string.ascii_lowercase) for _ in range(12))
        client.get(f"/{tail}/")
        client.get(f"/api/v1/{tail}")
    assert len(_series(client)) == len(before)


def test_known_methods_keep_their_label(client):
    client.get("/healthz")
    client.post("/healthz")
    series = _series(client)
    assert any('method="GET"' in s for s in series)
    assert any('method="POST"' in s for s in series)
