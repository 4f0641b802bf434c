"""Operator endpoints: liveness, readiness naming the failing part, metrics, request ids."""

import json

import pytest

from joopang import health

pytestmark = pytest.mark.django_db


def test_healthz_is_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_probes_answer_when_the_markets_cannot_be_read(client, monkeypatch):
    # given: every read of the markets fails (the database down, or not yet migrated)
    from apps.markets import resolution

    def unreadable(*args, **kwargs):
        raise RuntimeError("no such table: markets_market")

    monkeypatch.setattr(resolution, "resolve_market", unreadable)
    monkeypatch.setattr("joopang.middleware.resolve_market", unreadable)

    # then: liveness still answers, and readiness answers for itself (no market involved)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    with pytest.raises(RuntimeError):  # (a page that needs its market does need them)
        client.get("/")


def test_readyz_is_200_when_everything_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


def test_readyz_names_a_down_cache(client, monkeypatch):
    from django.core.cache.backends.redis import RedisCache

    # A real Redis client pointed at a port where nothing listens.
    dead = RedisCache(
        "redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    )
    monkeypatch.setattr(health, "cache", dead)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["cache"]
    assert body["checks"]["database"] == "ok"
    assert "ConnectionError" in body["checks"]["cache"]


def test_readyz_names_a_down_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"].startswith("error:")


def test_readyz_names_a_failing_database(client, monkeypatch):
    def broken() -> None:
        raise ConnectionError("database is down")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert json.loads(response.content)["failing"] == ["database"]


def test_metrics_for_allowed_networks_only(client):
    allowed = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert allowed.status_code == 200
    assert b"django_http_requests_total_by_method_total" in allowed.content
    denied = client.get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert denied.status_code == 403


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert given["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    assert made["X-Request-ID"] != "bad id with spaces"
    assert len(made["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id(client, capsys):
    import logging

    import structlog

    from joopang.logging import build_logging_config

    logging.config.dictConfig(build_logging_config(level="INFO", fmt="json"))
    try:
        client.get("/api/v1/categories", HTTP_X_REQUEST_ID="req-42", HTTP_X_MARKET="US")
        structlog.get_logger("test").info("after")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    finally:
        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)
    finished = [line for line in lines if line.get("event") == "request_finished"]
    assert finished, lines
    assert finished[0]["request_id"] == "req-42"
    assert finished[0]["market"] == "US"
