"""Per-address rate limits (sliding windows shared by every process; 429 + Retry-After).
The lockout is in test_lockout.py."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/token"


def grant(api_client, password, **extra):
    return api_client.post(
        URL,
        {"grant_type": "password", "username": "minji@example.test", "password": password},
        format="json",
        **extra,
    )


def test_token_endpoint_throttled_with_retry_after(api_client, settings):
    settings.AUTH_TOKEN_RATE = "3/minute"

    codes = [api_client.post(URL, {"grant_type": "nope"}, format="json").status_code for _ in range(4)]
    response = api_client.post(URL, {"grant_type": "nope"}, format="json", HTTP_ACCEPT_LANGUAGE="ko")

    assert codes == [400, 400, 400, 429]
    assert response.status_code == 429
    assert response.json()["code"] == "request.throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_register_throttled_per_ip(api_client, settings):
    settings.AUTH_REGISTER_RATE = "2/hour"
    body = {"email": "x@example.test", "password": "short", "market": "US", "consents": ["terms", "privacy"]}

    statuses = [api_client.post("/api/v1/auth/register", body, format="json").status_code for _ in range(3)]
    other_ip = api_client.post("/api/v1/auth/register", body, format="json", REMOTE_ADDR="10.0.0.9")

    assert statuses == [400, 400, 429]
    assert other_ip.status_code == 400


def test_storefront_login_throttled(client, settings):
    settings.AUTH_LOGIN_RATE = "1/minute"
    client.post("/accounts/login/", {"email": "a@example.test", "password": "x"})

    response = client.post("/accounts/login/", {"email": "a@example.test", "password": "x"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def _hash_computations(monkeypatch) -> list[str]:
    """Record every hash the (test) hasher computes: a check computes one, and Django's
    backend computes one for an unknown user so that both take the same time."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    calls: list[str] = []
    encode = MD5PasswordHasher.encode

    def counting_encode(self, password, salt):
        calls.append(salt)
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting_encode)
    return calls


def test_unknown_email_costs_one_password_hash_like_a_known_one(api_client, member, monkeypatch):
    # given: an email that exists and one that does not
    calls = _hash_computations(monkeypatch)

    # when: both are tried with a wrong password
    known = grant(api_client, "wrong")
    known_calls = len(calls)
    unknown = api_client.post(
        URL,
        {"grant_type": "password", "username": "nobody@example.test", "password": "wrong"},
        format="json",
    )

    # then: same answer, and the unknown email also pays for one hash (no timing oracle)
    assert known.json() == unknown.json()
    assert known.status_code == unknown.status_code == 400
    assert known_calls == 1
    assert len(calls) - known_calls == 1


# --- Sliding windows --------------------------------------------------------------------


def test_no_burst_across_a_minute_boundary(api_client, settings, fake_clock):
    # given: 20/minute, the clock 0.1 s before a calendar minute ends
    settings.AUTH_TOKEN_RATE = "20/minute"
    fake_clock.now = fake_clock.now.replace(second=59, microsecond=900_000)

    def attempt():
        return api_client.post(URL, {"grant_type": "nope"}, format="json")

    # when: 20 requests just before the boundary and 20 just after it
    before = [attempt().status_code for _ in range(20)]
    fake_clock.advance(0.2)
    after = [attempt() for _ in range(20)]

    # then: a fixed window would have let the second burst through; the sliding one does not
    assert before == [400] * 20
    assert [r.status_code for r in after] == [429] * 20
    assert after[0]["Retry-After"] == "60"  # 59.8 s, rounded up
    fake_clock.advance(59.8)
    assert attempt().status_code == 400


def test_sliding_window_never_admits_more_than_the_limit_in_any_window(settings, fake_clock):
    # given: 5 per 10 seconds, requests at random moments over ten minutes
    import random

    from apps.accounts.throttling import Rate, sliding_window_hit

    rng = random.Random(16)
    rates = [Rate(limit=5, period=10)]
    allowed: list[float] = []
    start = fake_clock.now

    # when
    for _ in range(400):
        fake_clock.advance(rng.expovariate(1 / 0.8))
        if sliding_window_hit("test:any-window", rates) is None:
            allowed.append((fake_clock.now - start).total_seconds())

    # then: every 10-second window holds at most 5 admitted requests, and the limiter
    # admitted as many as that allows (it is not just refusing everything)
    for t in allowed:
        assert sum(1 for u in allowed if t - 10 < u <= t) <= 5
    assert len(allowed) >= 5 * (allowed[-1] - allowed[0]) / 10 * 0.7


def test_several_windows_at_once(settings, fake_clock):
    from apps.accounts.throttling import parse_rates, sliding_window_hit

    rates = parse_rates("2/second,3/minute")

    first = [sliding_window_hit("test:two", rates) for _ in range(3)]
    fake_clock.advance(1)
    second = sliding_window_hit("test:two", rates)
    fake_clock.advance(1)
    third = sliding_window_hit("test:two", rates)
    fake_clock.advance(58)
    fourth = sliding_window_hit("test:two", rates)

    assert first == [None, None, 1]  # the per-second window is full
    assert second is None  # 3rd request of the minute
    assert third == 58  # the per-minute window is full until the first request leaves it
    assert fourth is None


def test_refused_requests_are_not_recorded(settings, fake_clock):
    from apps.accounts.throttling import Rate, sliding_window_hit

    rates = [Rate(limit=2, period=60)]
    sliding_window_hit("test:refused", rates)
    sliding_window_hit("test:refused", rates)
    for _ in range(50):
        fake_clock.advance(1)
        assert sliding_window_hit("test:refused", rates) is not None

    fake_clock.advance(10)  # 60 s after the two admitted requests

    assert sliding_window_hit("test:refused", rates) is None


def test_rate_settings_parse_and_disable():
    from apps.accounts.throttling import Rate, parse_rates

    assert parse_rates("20/minute, 200/hour") == [Rate(20, 60), Rate(200, 3600)]
    assert parse_rates("0/minute") == []
    assert parse_rates("") == []


def test_limit_holds_in_the_database_when_redis_is_down(settings, fake_clock, monkeypatch):
    # given: Redis configured but unreachable
    from redis.exceptions import ConnectionError as RedisConnectionError

    from apps.accounts import throttling

    def redis_down(*args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(throttling, "RedisCache", object)  # every cache counts as Redis here
    monkeypatch.setattr(throttling, "_hit_redis", redis_down)
    rates = [throttling.Rate(limit=2, period=60)]

    # when / then: the database keeps the window
    results = [throttling.sliding_window_hit("test:redis-down", rates) for _ in range(3)]
    assert results == [None, None, 60]


def test_windows_live_in_redis_or_the_database_never_in_process_memory(settings, fake_clock):
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    from apps.accounts.models import RateLimitWindow
    from apps.accounts.throttling import Rate, sliding_window_hit

    sliding_window_hit("test:where", [Rate(limit=5, period=60)])

    backend = caches["default"]
    if isinstance(backend, RedisCache):  # the PostgreSQL + Redis run
        client = backend._cache.get_client("test:where")
        assert client.zcard(backend.make_key("test:where")) == 1
        assert not RateLimitWindow.objects.exists()
    else:  # local-memory cache: per process, so the database holds the window
        row = RateLimitWindow.objects.get(key="test:where")
        assert row.hits == [fake_clock.now.timestamp()]
