"""API fuzzing: schemathesis against the OpenAPI schema the app serves, in process.

Every operation of ``/api/v1/schema/`` is called with every role's token (guest, member,
cs_agent, inventory_manager, marketing_manager, ops_admin, data_platform) on generated
input, a few examples each (deterministic: ``derandomize=True``). Each example is sent
twice: as generated, and with its path parameters replaced by real objects of a small
seeded world (a product, a SKU with stock, the member's cart, orders, a coupon campaign,
a saved payment method), so the handlers past the 404 are reached too.

Each answer must be:

* not a 5xx (``not_a_server_error``);
* a status, content type, headers and body the schema documents for the operation
  (``status_code_conformance``, ``content_type_conformance``,
  ``response_headers_conformance``, ``response_schema_conformance``);
* when it is a 4xx: ``application/problem+json`` whose ``code`` is in the error catalog
  and listed in the operation's documentation for that status.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from django.test import Client, override_settings
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (  # type: ignore[attr-defined]  # resolved lazily by the module
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts.tokens import access_token_for
from apps.core.errors import ERROR_CATALOG
from apps.core.problems import PROBLEM_CONTENT_TYPE
from apps.markets.models import Market
from apps.payments.providers import reset_provider
from apps.payments.providers.sandbox import SandboxServer

#: Examples generated per operation and role (each sent twice, see the module doc).
MAX_EXAMPLES = 3
ROLES = (
    "guest",
    "member",
    "cs_agent",
    "inventory_manager",
    "marketing_manager",
    "ops_admin",
    "data_platform",
)
STAFF_ROLES = ("cs_agent", "inventory_manager", "marketing_manager", "ops_admin")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _live_schema() -> dict[str, Any]:
    """The document ``/api/v1/schema/`` serves (same generator and version, no request)."""
    return SchemaGenerator(api_version="v1").get_schema(request=None, public=True)  # type: ignore[no-any-return]


class _InTransactionWSGIHandler(WSGIHandler):
    """Django's WSGI application, minus the connection closing at the start and end of each
    request (as Django's test client does): it would end the test's transaction. The
    receivers are taken off at every call, since the test client puts them back after its
    own requests; the ``world`` fixture restores them after the module."""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        return super().__call__(environ, start_response)


RAW_SCHEMA = _live_schema()
SCHEMA = schemathesis.openapi.from_dict(RAW_SCHEMA)
SCHEMA.app = _InTransactionWSGIHandler()
OPERATIONS = sorted(
    (path, method.upper())
    for path, item in RAW_SCHEMA["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
)
_CODE = re.compile(r"`([a-z_]+(?:\.[a-z_]+)+)`")


def documented_codes(path: str, method: str, status: int) -> set[str]:
    """The problem codes the schema lists for ``status`` of the operation."""
    response = RAW_SCHEMA["paths"][path][method.lower()]["responses"].get(str(status), {})
    return set(_CODE.findall(response.get("description", "")))


@dataclass
class World:
    """The seeded objects and one access token per role."""

    tokens: dict[str, str]
    #: (path, parameter) -> a real value for it
    path_values: dict[tuple[str, str], Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """A small catalog, a member with a cart, orders and a saved method, a live campaign,
    one user per staff role and a data-platform client; rolled back after the module."""
    from apps.carts import services as carts
    from apps.coupons.models import Campaign
    from tests.accounts.factories import MemberFactory, staff, system_client
    from tests.carts.factories import stocked
    from tests.coupons.factories import active_campaign
    from tests.orders.factories import items_of, paid_order, place
    from tests.payments.factories import method_for

    sandbox = SandboxServer(port=0).start()
    overrides = override_settings(
        PAYMENT_PROVIDER_URL=sandbox.url,
        PAYMENT_PROVIDER_CONNECT_TIMEOUT=1.0,
        PAYMENT_PROVIDER_READ_TIMEOUT=1.0,
        PAYMENT_PROVIDER_RETRY_ATTEMPTS=2,
        PAYMENT_PROVIDER_RETRY_BASE_SECONDS=0.01,
        PAYMENT_PROVIDER_RETRY_MAX_SECONDS=0.02,
    )
    overrides.enable()
    reset_provider()
    try:
        with django_db_blocker.unblock():
            atomic = transaction.atomic()
            # Like Django's TestCase: services' durable blocks may nest inside this one.
            atomic._from_testcase = True  # type: ignore[attr-defined]
            atomic.__enter__()
            try:
                kr = Market.objects.get(code="KR")
                products = [stocked(code=f"FZ{i}")[0] for i in range(3)]
                skus = [p.skus.get().code for p in products]
                member = MemberFactory(email="fuzz-member@example.test")
                cart = carts.member_cart_get_or_create(user=member, market=kr)
                carts.cart_item_add(cart=cart, sku_code=skus[0], quantity=2, market=kr)
                pending = place(member, kr, items_of((skus[1], 1)))
                paid = paid_order(member, kr, items_of((skus[2], 1)))
                method = method_for(member, kr)
                marketing = staff("marketing_manager")
                campaign = active_campaign(actor=marketing)
                assert Campaign.objects.filter(pk=campaign.pk, status="active").exists()
                users = {
                    role: staff(role) if role != "marketing_manager" else marketing for role in STAFF_ROLES
                }
                users["member"] = member
                tokens = {role: str(access_token_for(user)) for role, user in users.items()}
                client, secret = system_client("fuzz data platform")
                answer = Client().post(
                    "/api/v1/auth/token",
                    {
                        "grant_type": "client_credentials",
                        "client_id": client.client_id,
                        "client_secret": secret,
                    },
                    content_type="application/json",
                )
                assert answer.status_code == 200, answer.content
                tokens["data_platform"] = answer.json()["access_token"]
                # Every token opens what its role is for (the fuzzing is not all 401s).
                for role, token in tokens.items():
                    path = "/api/v1/integrations/outbox/stats" if role == "data_platform" else "/api/v1/me"
                    seen = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
                    assert seen.status_code == 200, (role, seen.content)
                path_values: dict[tuple[str, str], Any] = {
                    ("/api/v1/products/{product_id}", "product_id"): products[0].pk,
                    ("/api/v1/internal/wallets/{user_id}/adjustments", "user_id"): member.pk,
                    ("/api/v1/payment-methods/{id}", "id"): str(method.public_id),
                    ("/api/v1/orders/{id}/refunds", "id"): str(paid.public_id),
                    ("/api/v1/internal/orders/{id}/transitions", "id"): str(paid.public_id),
                }
                for path, _ in OPERATIONS:
                    if "{sku}" in path:
                        path_values[(path, "sku")] = skus[0]
                    elif path.startswith("/api/v1/orders/{id}") and (path, "id") not in path_values:
                        path_values[(path, "id")] = str(pending.public_id)
                    elif "coupon" in path and "{id}" in path:
                        path_values[(path, "id")] = campaign.pk
                yield World(tokens=tokens, path_values=path_values)
            finally:
                transaction.set_rollback(True)
                atomic.__exit__(None, None, None)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
        overrides.disable()
        reset_provider()
        sandbox.stop()


def _problem_check(path: str, method: str, response: Any) -> None:
    status = response.status_code
    if not 400 <= status < 500:
        return
    documented_media = (
        RAW_SCHEMA["paths"][path][method.lower()]["responses"].get(str(status), {}).get("content", {})
    )
    if documented_media and PROBLEM_CONTENT_TYPE not in documented_media:
        # Another error format the schema documents (the token endpoint's OAuth errors,
        # RFC 6749 §5.2): the conformance checks hold it to that schema.
        return
    values = {k.lower(): v for k, v in response.headers.items()}.get("content-type") or [""]
    content_type = values[0] if isinstance(values, list) else values
    assert content_type.split(";")[0].strip() == PROBLEM_CONTENT_TYPE, (
        f"{method} {path} answered {status} with {content_type!r}: {response.text[:300]}"
    )
    code = response.json().get("code")
    assert code in ERROR_CATALOG, f"{method} {path} answered {status} with unknown code {code!r}"
    documented = documented_codes(path, method, status)
    assert code in documented, (
        f"{method} {path} answered {status} {code!r}; the schema documents {sorted(documented)}"
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_operation_with_role(world: World, db: None, path: str, method: str, role: str) -> None:
    operation = SCHEMA[path][method]
    token = world.tokens.get(role)
    real = {
        name: world.path_values[(path, name)]
        for name in re.findall(r"{(\w+)}", path)
        if (path, name) in world.path_values
    }

    def send(case: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if case.headers:
            case.headers.pop("Authorization", None)
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        _problem_check(path, method, response)

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def fuzz(case: Any) -> None:
        send(case)
        if real:
            case.path_parameters = {**(case.path_parameters or {}), **real}
            send(case)

    fuzz()


def test_fuzzed_schema_is_the_served_one(client: Any, db: None) -> None:
    """The schema fuzzed above is the document ``/api/v1/schema/`` serves."""
    import yaml

    served = yaml.safe_load(client.get("/api/v1/schema/").content)
    assert served["paths"].keys() == RAW_SCHEMA["paths"].keys()
    assert served == RAW_SCHEMA


def test_every_documented_code_is_in_the_catalog() -> None:
    """A code the schema lists is one the error catalog defines (no typos, no stale codes)."""
    listed = {
        code
        for item in RAW_SCHEMA["paths"].values()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
        for response in operation["responses"].values()
        for code in _CODE.findall(response.get("description", ""))
    }
    assert listed
    assert listed <= ERROR_CATALOG.keys(), sorted(listed - ERROR_CATALOG.keys())


@pytest.mark.parametrize("role", ["member", "ops_admin"])
def test_stateful_links(world: World, db: None, role: str) -> None:
    """Sequences along the links schemathesis infers from the schema (list → read → act:
    ``GET /orders`` → ``GET /orders/{id}`` → pay / cancel / refund; claim → coupon; saved
    method → delete...), with the same checks on every step."""
    headers = {"Authorization": f"Bearer {world.tokens[role]}"}
    followed: list[tuple[str, int]] = []
    steps: list[int] = []

    class Workflow(SCHEMA.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            if case.headers:
                case.headers.pop("Authorization", None)
            return {"headers": headers}

        def step(self, input: Any) -> Any:
            output = super().step(input)
            steps.append(output.response.status_code)
            if input.transition is not None:
                followed.append((output.case.operation.label, output.response.status_code))
            return output

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)
            _problem_check(case.operation.path, case.method, response)

    Workflow.run(
        settings=settings(
            max_examples=6,
            stateful_step_count=6,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
    # Every step was checked (above). Which links a run follows depends on what earlier
    # steps answered, and a run may end before following one (seen in CI): the test asks
    # that the machine ran and that every link it did follow was checked like any call.
    assert steps, "the state machine made no call"
    assert len(followed) <= len(steps)
