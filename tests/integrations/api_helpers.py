"""Callers and outbox rows for the data platform's API tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.accounts.roles import roles_sync
from apps.core import clock
from apps.core.models import OutboxEvent
from apps.core.outbox import publish
from tests.accounts.factories import MemberFactory, staff, system_client

TOKEN_URL = "/api/v1/auth/token"
EVENTS_URL = "/api/v1/integrations/events"
REDELIVERIES_URL = "/api/v1/integrations/redeliveries"
STATS_URL = "/api/v1/integrations/outbox/stats"


def platform_client(name: str = "warehouse") -> APIClient:
    """An API client holding a data-platform access token obtained the real way: the
    client-credentials grant of ``POST /auth/token``."""
    roles_sync(strict=True)
    client, secret = system_client(name)
    api = APIClient()
    response = api.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret},
        format="json",
    )
    assert response.status_code == 200, response.content
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    return api


def person_client(role: str) -> APIClient:
    """``member``, a staff role, or ``guest`` (no credentials)."""
    roles_sync(strict=True)
    api = APIClient()
    if role == "guest":
        return api
    user = (
        MemberFactory()
        if role == "member"
        else staff(role, email=f"{role}-{uuid.uuid4().hex[:6]}@staff.test")
    )
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access_token_for(user)}")
    return api


def published(
    n: int = 1, *, type: str = "inventory.adjusted", aggregate_id: str = "1", **payload: Any
) -> list[OutboxEvent]:
    """``n`` events published the way the flows do (``publish`` in a transaction)."""
    events = []
    with transaction.atomic():
        for i in range(n):
            events.append(
                publish(
                    type=type,
                    aggregate_type="stock_level",
                    aggregate_id=aggregate_id,
                    market="KR",
                    payload={"n": i, **payload},
                )
            )
    return events


def raw_event(sequence: int, *, age: dt.timedelta = dt.timedelta(0), **fields: Any) -> OutboxEvent:
    """An outbox row with a chosen ``sequence`` and age: the holes a rolled-back or a
    still-committing transaction leaves in the numbering, which ``publish`` on SQLite
    never does."""
    return OutboxEvent.objects.create(
        sequence=sequence,
        type=fields.pop("type", "inventory.adjusted"),
        market="KR",
        aggregate_type="stock_level",
        aggregate_id=fields.pop("aggregate_id", f"agg-{sequence}"),
        aggregate_sequence=1,
        payload={"sequence": sequence},
        occurred_at=fields.pop("occurred_at", None) or clock.now() - age,
        **fields,
    )
