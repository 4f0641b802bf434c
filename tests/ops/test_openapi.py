"""The committed OpenAPI document is valid and matches the code (`make schema` refreshes it)."""

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_openapi_schema_is_valid_and_not_stale(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--api-version", "v1", "--lang", "en", "--file", str(generated))
    spec = yaml.safe_load(generated.read_text())
    validate(spec)
    assert spec["info"]["title"] == "Joopang REST API"
    assert COMMITTED.exists(), "run `make schema` and commit docs/openapi.yaml"
    assert generated.read_text() == COMMITTED.read_text(), "docs/openapi.yaml is stale: run `make schema`"


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn." not in docs.content  # served from our own static files
