"""docs/events.md documents every event type with one JSON example, and the flows publish
exactly what it says (issue 22 item 1).

The test drives the real flows through their services (place and pay an order with a
coupon, fulfil and refund it in part and whole, cancel a paid and an unpaid order, claim
and revoke coupons, adjust stock, credit and debit a wallet), then compares every event it
published with the documented example of its type: the same keys and the same JSON types,
recursively (a list's items against the example's first item). A flow that changes its
payload without the documentation fails here, and so does an example nobody publishes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from apps.core.models import OutboxEvent
from apps.coupons import services as coupons
from apps.inventory.models import StockLevel
from apps.inventory.services import stock_adjust
from apps.markets.models import Market
from apps.orders import services as orders
from tests.carts.factories import stocked
from tests.coupons.factories import active_campaign
from tests.orders.conftest import address_for
from tests.orders.factories import items_of, key
from tests.payments.factories import MemberFactory, funded_wallet, staff

DOC = Path(settings.BASE_DIR) / "docs" / "events.md"
#: API.md "External data platform" lists these; order.partially_refunded exists besides.
API_TYPES = {
    "order.created",
    "order.paid",
    "order.cancelled",
    "order.fulfilled",
    "order.refunded",
    "coupon.issued",
    "coupon.used",
    "coupon.revoked",
    "inventory.adjusted",
    "inventory.reserved",
    "inventory.released",
    "inventory.committed",
    "wallet.credited",
    "wallet.debited",
}
DOCUMENTED_TYPES = API_TYPES | {"order.partially_refunded"}
ENVELOPE = {
    "id",
    "sequence",
    "type",
    "version",
    "occurred_at",
    "market",
    "aggregate_type",
    "aggregate_id",
    "aggregate_sequence",
    "payload",
}
#: Payload keys a documented example shows that some events of its type leave out, as the
#: documentation says: ``order.cancelled`` carries ``refund`` only when a paid order was
#: cancelled (its money went back).
OPTIONAL_KEYS = {"order.cancelled": {"refund"}}
#: Payload keys whose documented value may be ``null`` instead, as the documentation says:
#: ``order.created``'s ``coupon`` when no coupon was applied, ``inventory.adjusted``'s
#: ``actor_id`` for a system change (a new stock row's opening count).
NULLABLE_KEYS = {"order.created": {"coupon"}, "inventory.adjusted": {"actor_id"}}


def documented_examples() -> dict[str, dict[str, Any]]:
    """type -> its JSON example (every ```json block of the document that is an event)."""
    examples: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"```json\n(.*?)\n```", DOC.read_text(encoding="utf-8"), flags=re.S):
        example = json.loads(block)
        if isinstance(example, dict) and "type" in example and "payload" in example:
            assert example["type"] not in examples, f"two examples of {example['type']}"
            examples[example["type"]] = example
    return examples


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def shape_differences(
    documented: Any,
    real: Any,
    where: str,
    optional: frozenset[str] = frozenset(),
    nullable: frozenset[str] = frozenset(),
) -> list[str]:
    """Where ``real`` differs from ``documented`` in keys or JSON types (empty: same shape).
    ``optional`` and ``nullable`` name keys of the top level that may be left out or null."""
    if _json_type(documented) != _json_type(real):
        return [f"{where}: documented {_json_type(documented)}, published {_json_type(real)} ({real!r})"]
    if isinstance(documented, dict):
        problems = []
        missing = documented.keys() - real.keys() - optional
        extra = real.keys() - documented.keys()
        if missing:
            problems.append(f"{where}: documented but not published: {sorted(missing)}")
        if extra:
            problems.append(f"{where}: published but not documented: {sorted(extra)}")
        for name in sorted(documented.keys() & real.keys()):
            if name in nullable and real[name] is None:
                continue
            problems += shape_differences(documented[name], real[name], f"{where}.{name}")
        return problems
    if isinstance(documented, list) and documented:
        return [
            p for i, item in enumerate(real) for p in shape_differences(documented[0], item, f"{where}[{i}]")
        ]
    return []


def event_json(event: OutboxEvent) -> dict[str, Any]:
    """The event as the feed and the webhook serialize it."""
    from apps.integrations.api.serializers import event_json as as_json

    return json.loads(json.dumps(as_json(event)))


def drive_every_flow() -> None:
    """Publish every documented type through the real services."""
    kr = Market.objects.get(code="KR")
    ops = staff("ops_admin", email="ops-events@staff.test")
    marketer = staff("marketing_manager", email="marketer-events@staff.test")
    member = MemberFactory()
    _, sku = stocked(kr=12_000)
    _, other_sku = stocked(kr=3_000)

    # coupon.issued; then order.created + inventory.reserved, wallet.credited (funding),
    # order.paid + wallet.debited + inventory.committed + coupon.used
    campaign = active_campaign(actor=marketer, discount_type="fixed", discount_value=1_000)
    coupon = coupons.coupon_claim(campaign_id=campaign.pk, user=member, market=kr)
    placed = orders.order_place(
        user=member,
        market=kr,
        idempotency_key=key(),
        items=items_of((sku, 2), (other_sku, 1)),
        coupon_id=str(coupon.public_id),
        shipping_address=address_for(kr),
    ).order
    funded_wallet(member, kr, 100_000)
    orders.order_pay_wallet(order_id=str(placed.public_id), user=member, idempotency_key=key())

    # order.fulfilled, order.partially_refunded (one unit of line 1), order.refunded (the rest)
    orders.order_transition(
        order_id=str(placed.public_id), to_status="fulfilled", actor=ops, reason="shipped", markets=["KR"]
    )
    orders.order_refund(
        order_id=str(placed.public_id),
        user=member,
        reason="one was broken",
        idempotency_key=key(),
        lines=[{"line": 1, "quantity": 1}],
    )
    orders.order_refund(
        order_id=str(placed.public_id), user=member, reason="changed my mind", idempotency_key=key()
    )

    # order.cancelled of a paid order (with its refund) and of an unpaid one
    # (inventory.released)
    paid = orders.order_place(
        user=member,
        market=kr,
        idempotency_key=key(),
        items=items_of((sku, 1)),
        shipping_address=address_for(kr),
    ).order
    orders.order_pay_wallet(order_id=str(paid.public_id), user=member, idempotency_key=key())
    orders.order_cancel(order_id=str(paid.public_id), user=member, reason="ordered twice")
    unpaid = orders.order_place(
        user=member,
        market=kr,
        idempotency_key=key(),
        items=items_of((sku, 1)),
        shipping_address=address_for(kr),
    ).order
    orders.order_cancel(order_id=str(unpaid.public_id), user=member, reason="")

    # coupon.revoked
    revoked = active_campaign(actor=marketer, discount_type="fixed", discount_value=500)
    coupons.coupon_claim(campaign_id=revoked.pk, user=member, market=kr)
    coupons.coupons_revoke(campaign_id=revoked.pk, actor=marketer, reason="issued by mistake")

    # inventory.adjusted
    level = (
        StockLevel.objects.filter(sku__code=sku, warehouse__market_id="KR").select_related("warehouse").get()
    )
    stock_adjust(
        sku_code=sku,
        warehouse_code=level.warehouse.code,
        delta=-2,
        kind="damage",
        reason="crushed box",
        reference="RMA-9",
        actor=ops,
    )


@pytest.fixture
def published(db) -> dict[str, list[dict[str, Any]]]:
    drive_every_flow()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in OutboxEvent.objects.order_by("sequence"):
        by_type.setdefault(event.type, []).append(event_json(event))
    return by_type


def test_the_document_has_one_example_per_type_with_the_envelope():
    examples = documented_examples()

    assert set(examples) == DOCUMENTED_TYPES
    for example in examples.values():
        assert set(example) == ENVELOPE, example["type"]


def test_every_documented_type_is_published_by_its_flow_as_documented(published):
    examples = documented_examples()

    assert set(published) >= DOCUMENTED_TYPES, sorted(DOCUMENTED_TYPES - set(published))
    assert set(published) <= DOCUMENTED_TYPES, sorted(set(published) - DOCUMENTED_TYPES)
    problems = []
    for type_, events in sorted(published.items()):
        example = examples[type_]
        for event in events:
            where = f"{type_}#{event['sequence']}"
            problems += shape_differences(
                {k: v for k, v in example.items() if k != "payload"},
                {k: v for k, v in event.items() if k != "payload"},
                where,
            )
            problems += shape_differences(
                example["payload"],
                event["payload"],
                f"{where}.payload",
                frozenset(OPTIONAL_KEYS.get(type_, ())),
                frozenset(NULLABLE_KEYS.get(type_, ())),
            )
            assert (event["version"], event["aggregate_type"]) == (
                example["version"],
                example["aggregate_type"],
            ), where
    assert problems == []
    cancelled = published["order.cancelled"]
    assert sorted("refund" in e["payload"] for e in cancelled) == [False, True]  # both variants seen
    assert sorted(e["payload"]["coupon"] is None for e in published["order.created"]) == [False, True, True]
    assert any(e["payload"]["actor_id"] is not None for e in published["inventory.adjusted"])


def test_the_shape_check_catches_a_renamed_a_missing_and_a_retyped_field():
    documented = {"a": 1, "b": "x", "lines": [{"sku": "S", "quantity": 1}]}

    assert (
        shape_differences(documented, {"a": 2, "b": "y", "lines": [{"sku": "T", "quantity": 3}]}, "p") == []
    )
    assert shape_differences(documented, {"a": 1, "c": "x", "lines": []}, "p") == [
        "p: documented but not published: ['b']",
        "p: published but not documented: ['c']",
    ]
    assert shape_differences(
        documented, {"a": "1", "b": "x", "lines": [{"sku": "S", "quantity": None}]}, "p"
    ) == [
        "p.a: documented number, published string ('1')",
        "p.lines[0].quantity: documented number, published null (None)",
    ]


def test_the_documented_signature_check_accepts_the_relays_requests_and_nothing_else():
    from apps.integrations.services import signed_headers

    (snippet,) = re.findall(r"```python\n(.*?)\n```", DOC.read_text(encoding="utf-8"), flags=re.S)
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOC), "exec"), namespace)  # our own documentation
    verify = namespace["verify"]
    body = b'[{"id":"7f0c1f0e-3b8e-4b9a-9a55-0d7f4b1c2a10","type":"order.paid"}]'
    headers = signed_headers(secret="s3cret", body=body, event_ids=["7f0c1f0e-3b8e-4b9a-9a55-0d7f4b1c2a10"])
    stale = signed_headers(secret="s3cret", body=body, event_ids=[], now=1_000_000_000)

    assert verify("s3cret", headers, body) is True
    assert verify("other secret", headers, body) is False
    assert verify("s3cret", headers, body.replace(b"paid", b"created")) is False
    assert verify("s3cret", stale, body) is False
    assert verify("s3cret", {**headers, "Joopang-Signature": "v0=abc, " + headers["Joopang-Signature"]}, body)
