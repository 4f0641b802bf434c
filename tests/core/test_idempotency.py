"""Idempotency-Key semantics of API.md: replay, reuse, in-progress, expiry, one winner."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.response import Response

from apps.core.errors import IdempotencyInProgress
from apps.core.idempotency import (
    idempotency_begin,
    idempotency_complete,
    idempotency_keys_purge,
    idempotency_release,
)
from apps.core.models import IdempotencyKey
from tests.utils.processes import run_concurrently

pytestmark = pytest.mark.urls("tests.core.urls")
URL = "/api/v1/test/groups"


def _executions() -> int:
    """The test view creates one ``idem-*`` group per execution."""
    return Group.objects.filter(name__startswith="idem-").count()


def _post(client, body, key="key-1", **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL + extra.pop("query", ""), body, format="json", **headers, **extra)


@pytest.mark.django_db
def test_missing_key_is_refused_and_nothing_runs(api_client):
    response = _post(api_client, {"name": "a", "quantity": 1}, key=None)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency.key_required"
    assert _executions() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "한글키"])
def test_invalid_keys_are_refused(api_client, key):
    response = _post(api_client, {"name": "a", "quantity": 1}, key=key)
    assert response.status_code == 400
    assert response.json()["code"] in {"idempotency.key_invalid", "idempotency.key_required"}
    assert _executions() == 0


@pytest.mark.django_db
def test_replay_returns_the_stored_response_without_running_again(api_client):
    first = _post(api_client, {"name": "a", "quantity": 1})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    replay = _post(api_client, {"quantity": 1, "name": "a"})  # same body, keys reordered
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert replay["Location"] == first["Location"]
    assert _executions() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_key_reused(api_client):
    _post(api_client, {"name": "a", "quantity": 1})
    response = _post(api_client, {"name": "a", "quantity": 2}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency.key_reused"
    assert _executions() == 1


@pytest.mark.django_db
def test_keys_are_scoped_to_the_caller(api_client):
    _post(api_client, {"name": "a", "quantity": 1})
    other = Client(REMOTE_ADDR="10.0.0.9")
    response = other.post(
        URL, {"name": "a", "quantity": 1}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert _executions() == 2


@pytest.mark.django_db
def test_a_refusal_is_stored_and_replayed_too(api_client):
    first = _post(api_client, {"name": "taken", "quantity": 1})
    assert first.status_code == 400
    replay = _post(api_client, {"name": "taken", "quantity": 1})
    assert replay.status_code == 400
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["code"] == "market.unknown"


@pytest.mark.django_db
def test_a_crash_releases_the_key_so_the_client_can_retry(api_client):
    api_client.raise_request_exception = False
    crashed = _post(api_client, {"name": "a", "quantity": 1}, query="?crash=1")
    assert crashed.status_code == 500
    assert IdempotencyKey.objects.count() == 0
    retried = _post(api_client, {"name": "a", "quantity": 1}, query="?crash=1")
    assert retried.status_code == 500  # ran again instead of replaying a failure


@pytest.mark.django_db
def test_in_progress_key_answers_409_until_its_lock_expires(api_client, settings):
    first = _post(api_client, {"name": "a", "quantity": 1})
    record = IdempotencyKey.objects.get()
    # Simulate a first attempt that is still running (or died) with the same body.
    IdempotencyKey.objects.filter(pk=record.pk).update(state="in_progress", response_status=None)
    busy = _post(api_client, {"name": "a", "quantity": 1})
    assert busy.status_code == 409
    assert busy.json()["code"] == "idempotency.in_progress"
    # After the lock passes (the first attempt died), a retry takes the key over.
    IdempotencyKey.objects.filter(pk=record.pk).update(
        locked_until=record.created_at - dt.timedelta(seconds=1)
    )
    taken = _post(api_client, {"name": "a", "quantity": 1})
    assert taken.status_code == 201
    assert "Idempotent-Replayed" not in taken
    assert first.status_code == 201


@pytest.mark.django_db
def test_expired_keys_are_purged_and_then_usable_again(api_client):
    _post(api_client, {"name": "a", "quantity": 1})
    record = IdempotencyKey.objects.get()
    assert idempotency_keys_purge(now=record.expires_at - dt.timedelta(seconds=1)) == 0
    assert idempotency_keys_purge(now=record.expires_at + dt.timedelta(seconds=1)) == 1
    again = _post(api_client, {"name": "a", "quantity": 1})
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert _executions() == 2


@pytest.mark.django_db
def test_a_superseded_attempt_cannot_release_or_complete_the_key_taken_over():
    # given a first attempt whose lock passed while it was still running ...
    claim = {"caller": "user:1", "key": "k", "req_hash": "h", "method": "POST", "path": "/x"}
    first = idempotency_begin(**claim)
    stale = first.locked_until - dt.timedelta(hours=1)
    IdempotencyKey.objects.filter(pk=first.pk).update(locked_until=stale)
    first.locked_until = stale
    # ... and a retry that took the key over and is running now
    second = idempotency_begin(**claim)
    assert second.pk == first.pk and second.locked_until > stale
    # when the first attempt fails (or finishes) late
    idempotency_release(record=first)
    idempotency_complete(record=first, response=Response({"late": True}, status=201))
    # then the retry still owns the key: a third request is told it is in progress
    row = IdempotencyKey.objects.get()
    assert (row.state, row.response_body) == ("in_progress", None)
    with pytest.raises(IdempotencyInProgress):
        idempotency_begin(**claim)
    # and the retry's own outcome is the one stored
    idempotency_complete(record=second, response=Response({"ok": True}, status=201))
    row.refresh_from_db()
    assert (row.state, row.response_status, row.response_body) == ("completed", 201, {"ok": True})


def _concurrent_post(key: str) -> int:
    from django.test import override_settings

    with override_settings(ROOT_URLCONF="tests.core.urls"):
        response = Client().post(
            URL + "?sleep=0.5",
            {"name": "race", "quantity": 1},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
    return response.status_code


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_execute_exactly_once(require_postgres):
    """Eight OS processes send the same key at once: one runs, the rest get 409 or a replay."""
    statuses = run_concurrently(_concurrent_post, [("race-key",)] * 8)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    assert statuses.count(409) >= 1
    assert _executions() == 1
    assert IdempotencyKey.objects.get(key="race-key").state == "completed"


@pytest.mark.django_db
def test_an_expired_key_not_yet_purged_is_claimed_afresh_even_with_another_body(api_client):
    # given: a completed key past its expiry that the purge has not removed yet
    _post(api_client, {"name": "a", "quantity": 1})
    IdempotencyKey.objects.update(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))

    # when: the key comes again, with another body
    again = _post(api_client, {"name": "b", "quantity": 2})

    # then: a new execution under a fresh claim (not key_reused, not a replay)
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert _executions() == 2
    record = IdempotencyKey.objects.get()
    assert (record.state, record.expires_at.year > 2000) == (IdempotencyKey.State.COMPLETED, True)


@pytest.mark.django_db(transaction=True)  # outside any transaction, as under a view
def test_a_new_key_is_claimed_with_one_statement(django_assert_num_queries):
    # when / then: one INSERT, no transaction around it, no DELETE first
    with django_assert_num_queries(1) as captured:
        claimed = idempotency_begin(caller="user:1", key="new", req_hash="h", method="POST", path="/x")
    assert isinstance(claimed, IdempotencyKey)
    assert captured.captured_queries[0]["sql"].startswith("INSERT")
