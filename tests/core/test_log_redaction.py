"""Log redaction (issue 19: a card number never reaches the logs): whatever gets into a
log line, structlog event or stdlib record, a card or account number is masked to its last
four digits in the rendered output, JSON and console alike; timestamps, UUIDs, request
ids and ordinary numbers are left as they were."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
import structlog

from joopang.logging import build_logging_config, redact_card_numbers, redact_text

CARD = "4111111111111111"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111111111111111 refused", "card ****1111 refused"),
        ("4111 1111 1111 1111", "****1111"),
        ("4111-1111-1111-1111", "****1111"),
        ("amex 378282246310005", "amex ****0005"),
        ("amex 3782-822463-10005", "amex ****0005"),
        ("19 digits 4000000000000000006", "19 digits ****0006"),
        ("acct 110-123-456789.", "acct ****6789."),
        ("계좌 123-45-678901 확인", "계좌 ****8901 확인"),
        ("phone 010-1234-5678", "phone ****5678"),
        ("국민4111111111111111", "국민****1111"),
        ("label=4111111111111111&x=1", "label=****1111&x=1"),
        ('{"number": "4111111111111111"}', '{"number": "****1111"}'),
        ("4111111111111111: declined", "****1111: declined"),
        ("card 4111111111111111 2024-05-01T10:00:00Z", "card ****1111 2024-05-01T10:00:00Z"),
        ("1 4111 1111 1111 1111", "1 ****1111"),
    ],
)
def test_card_and_account_numbers_are_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:34:56.123456+00:00",
        "2024-05-01 12:34:56",
        "from 2024-05-01 to 2024-05-31",
        "550e8400-e29b-41d4-a716-446655440000",
        "12345678-1234-1234-8716-446655440000",
        "41dd8400-e29b-41dd-8716-446655440000",
        "3f2a9c0e1b7d4e6f8a9b0c1d2e3f4a5b",
        "req-42",
        "4111111111111111abc",
        "took 1234.567 ms",
        "epoch 1714567890",
        "order 1234 2024-05-01 10:00",
        "30000 KRW, 1,000,000 won",
        "phone 01012345678",
        "id 123456789012",
        "trace 12345678901234567890",
        "10.0.0.1:8000",
        "1 2 3 4 5 6 7 8 9 10 11",
        "KB국민 ****1234",
        "order KR-20261130-000123 paid",
        "orders.paid order=US-20261129-004567",
    ],
)
def test_timestamps_ids_and_ordinary_numbers_are_untouched(text: str) -> None:
    assert redact_text(text) == text


def test_the_processor_walks_nested_values_and_leaves_the_callers_objects_alone() -> None:
    # given an event with card numbers at several depths, and ints of card length
    nested = {"label": f"Visa {CARD}", "items": [CARD, ("x", "4111 1111 1111 1111")], "n": 4111111111111111}
    event = {"event": "payment", "payload": nested, "tags": {CARD}, "amount": 4111111111111111}

    # when it is processed
    out = redact_card_numbers(None, "info", event)

    # then every string is masked, ints are not, and the nested input was copied, not changed
    assert out == {
        "event": "payment",
        "payload": {
            "label": "Visa ****1111",
            "items": ["****1111", ("x", "****1111")],
            "n": 4111111111111111,
        },
        "tags": {"****1111"},
        "amount": 4111111111111111,
    }
    assert nested["label"] == f"Visa {CARD}"
    assert nested["items"] == [CARD, ("x", "4111 1111 1111 1111")]


@pytest.fixture
def configure_logging(settings) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Install the real logging configuration in a given format at INFO (tests run at
    WARNING) and put the project's back afterwards."""

    def install(fmt: str) -> None:
        logging.config.dictConfig(build_logging_config(level="INFO", fmt=fmt))

    yield install
    logging.config.dictConfig(settings.LOGGING)


def _log_everything() -> None:
    """One structlog event and one stdlib record, each carrying card and account numbers
    next to values that must survive."""
    structlog.contextvars.bind_contextvars(request_id="9f1c2d3e4b5a69788796a5b4c3d2e1f0")
    try:
        structlog.get_logger("apps.payments").warning(
            f"payments.label_seen {CARD}",
            label="KB국민 110-123-456789",
            nested={"numbers": [CARD, "4111 1111 1111 1111"], "when": "2024-05-01T12:34:56+00:00"},
            reference="550e8400-e29b-41d4-a716-446655440000",
            amount=5500000000000004,  # an int: never masked
            took_ms="1234.567",
        )
        # (django.request logs from ERROR up: its 4xx lines repeat request_finished)
        logging.getLogger("django.request").error(
            "Internal Server Error: /wallet/%s/ at %s", CARD, "2024-05-01 12:34:56"
        )
        try:
            raise ValueError(f"bad card {CARD}")
        except ValueError:
            logging.getLogger("celery.worker").exception("task failed for order 1234")
    finally:
        structlog.contextvars.clear_contextvars()


def test_json_lines_are_redacted(configure_logging, capsys) -> None:
    # given the JSON format
    configure_logging("json")

    # when a structlog event and stdlib records carrying card numbers are logged
    _log_everything()
    err = capsys.readouterr().err

    # then no card or account number is in the output, everything else is
    assert CARD not in err
    assert "4111 1111 1111 1111" not in err
    assert "123-456789" not in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    event, request, failure = lines
    assert event["event"] == "payments.label_seen ****1111"
    assert event["label"] == "KB국민 ****6789"
    assert event["nested"] == {"numbers": ["****1111", "****1111"], "when": "2024-05-01T12:34:56+00:00"}
    assert event["reference"] == "550e8400-e29b-41d4-a716-446655440000"
    assert event["amount"] == 5500000000000004
    assert event["took_ms"] == "1234.567"
    assert event["request_id"] == "9f1c2d3e4b5a69788796a5b4c3d2e1f0"
    assert event["timestamp"].startswith("20") and event["timestamp"].endswith("Z")
    assert request["event"] == "Internal Server Error: /wallet/****1111/ at 2024-05-01 12:34:56"
    assert request["logger"] == "django.request"
    assert failure["event"] == "task failed for order 1234"
    assert "ValueError: bad card ****1111" in failure["exception"]


def test_console_lines_are_redacted(configure_logging, capsys) -> None:
    # given the console format
    configure_logging("console")

    # when the same things are logged
    _log_everything()
    err = capsys.readouterr().err

    # then the rendered text carries the masks and the untouched values
    assert CARD not in err
    assert "4111 1111 1111 1111" not in err
    assert "123-456789" not in err
    assert "payments.label_seen ****1111" in err
    assert "KB국민 ****6789" in err
    assert "550e8400-e29b-41d4-a716-446655440000" in err
    assert "amount=5500000000000004" in err
    assert "9f1c2d3e4b5a69788796a5b4c3d2e1f0" in err
    assert "Internal Server Error: /wallet/****1111/ at 2024-05-01 12:34:56" in err
    assert "ValueError: bad card ****1111" in err
