"""OpenTelemetry tracing (issue 23 item 5): off by default, on with the standard ``OTEL_*``
variables; a request makes a server span with its queries as child spans, and its JSON log
lines carry the same trace id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import Client

from joopang import tracing
from joopang.logging import add_trace_ids, build_logging_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "joopang"}, False),  # naming the service turns nothing on
        ({"OTEL_SDK_DISABLED": "false"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_ask(environ, enabled):
    assert tracing.tracing_enabled(environ) is enabled


def test_off_by_default_nothing_is_installed():
    # given: a process started without any OTEL_* variable
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["DJANGO_SETTINGS_MODULE"] = "joopang.settings.test"
    probe = (
        "import sys, json, psycopg, httpx\n"
        "import joopang.wsgi\n"
        "from django.conf import settings\n"
        "from joopang import tracing\n"
        "print(json.dumps({\n"
        # redis-py 8 imports the OpenTelemetry API and the SDK's metrics for its own
        # (optional) metrics; the trace SDK, exporters and instrumentations are ours to load
        "  'sdk_or_instrumentation': sorted(m for m in sys.modules if m.startswith(\n"
        "      ('opentelemetry.sdk.trace', 'opentelemetry.instrumentation', 'opentelemetry.exporter'))),\n"
        "  'otel_middleware': [m for m in settings.MIDDLEWARE if 'opentelemetry' in m],\n"
        "  'wrapped': [hasattr(f, '__wrapped__') for f in (psycopg.connect, httpx.Client.send)],\n"
        "  'ids': tracing.current_ids(),\n"
        "}))\n"
    )
    # when: the WSGI application is loaded as gunicorn loads it
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # then: no SDK, no middleware, nothing wrapped: no overhead
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "sdk_or_instrumentation": [],
        "otel_middleware": [],
        "wrapped": [False, False],
        "ids": None,
    }


def test_the_log_processor_adds_nothing_when_tracing_is_off():
    assert tracing.current_ids() is None
    assert add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}


@pytest.fixture
def spans() -> Iterator[object]:
    """Tracing on in this process, exporting to memory (set up as production does it, with
    the exporter swapped); undone after the test."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    assert tracing.setup_tracing(exporter=exporter, environ={}) is True
    yield exporter
    tracing.shutdown_tracing()


@pytest.fixture
def json_lines() -> Iterator[list[str]]:
    """The JSON log lines the project's formatter renders (as in production), captured."""
    config = build_logging_config(level="INFO", fmt="json")
    formatter_args = dict(config["formatters"]["structured"])
    factory = formatter_args.pop("()")
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Capture()
    handler.setFormatter(factory(**formatter_args))
    root, request_logger = logging.getLogger(), logging.getLogger("django_structlog")
    levels = (root.level, request_logger.level)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    request_logger.setLevel(logging.INFO)
    yield lines
    root.removeHandler(handler)
    root.setLevel(levels[0])
    request_logger.setLevel(levels[1])


@pytest.mark.django_db(transaction=True)
def test_a_request_is_a_server_span_with_its_queries_and_its_log_lines_carry_the_trace_id(spans, json_lines):
    # given: tracing on; the database connection is opened after set-up, as in a server
    # (connections open lazily, after wsgi.py set tracing up)
    connections.close_all()
    client = Client()
    # when: a request to a view that reads the database
    response = client.get("/api/v1/products?market=KR")
    # then: one server span for the request, named after its route
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    servers = [span for span in finished if span.kind.name == "SERVER"]
    assert len(servers) == 1
    server = servers[0]
    assert (
        server.attributes["http.method" if "http.method" in server.attributes else "http.request.method"]
        == "GET"
    )
    trace_id = format(server.context.trace_id, "032x")
    # its queries are client spans of the same trace, children of the request
    queries = [
        span
        for span in finished
        if span.kind.name == "CLIENT" and span.context.trace_id == server.context.trace_id
    ]
    if connection.vendor == "postgresql":
        assert queries, [span.name for span in finished]
        assert all(
            span.parent is not None and span.parent.span_id == server.context.span_id for span in queries
        )
        assert {span.attributes.get("db.system") for span in queries} == {"postgresql"}
    # and the request's JSON log line carries the same trace id
    events = [json.loads(line) for line in json_lines if line.startswith("{")]
    finished_line = next(
        e
        for e in events
        if e.get("event") == "request_finished" and e.get("request_id") == response["X-Request-ID"]
    )
    assert finished_line["trace_id"] == trace_id
    assert len(finished_line["span_id"]) == 16
    # once the request is over, no span is active: lines carry no trace id
    assert tracing.current_ids() is None


@pytest.mark.django_db
def test_an_outgoing_http_call_is_a_client_span_of_the_callers_trace(spans):
    import httpx
    from opentelemetry import trace

    tracer = trace.get_tracer("test")
    # an outgoing call to nowhere still makes its client span, inside the caller's trace
    with tracer.start_as_current_span("caller") as caller, httpx.Client(timeout=0.2) as http:
        ids = tracing.current_ids()
        with pytest.raises(httpx.HTTPError):
            http.get("http://127.0.0.1:9/unreachable")
    assert ids == (format(caller.context.trace_id, "032x"), format(caller.context.span_id, "016x"))
    outgoing = [s for s in spans.get_finished_spans() if s.kind.name == "CLIENT"]
    assert len(outgoing) == 1 and outgoing[0].context.trace_id == caller.context.trace_id


def test_a_celery_task_run_is_a_span(spans):
    from apps.core.tasks import ping_task

    assert ping_task.apply(kwargs={"echo": "hi"}).get() == "hi"
    runs = [s for s in spans.get_finished_spans() if s.name == "run/joopang.core.ping"]
    assert len(runs) == 1 and runs[0].kind.name == "CONSUMER"


def test_the_otel_variables_turn_it_on_in_the_wsgi_process():
    # given: a process with only OTEL_TRACES_EXPORTER=console (spans printed on stdout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(DJANGO_SETTINGS_MODULE="joopang.settings.test", OTEL_TRACES_EXPORTER="console")
    # (a bare process without a test database: the answer does not matter, its span does)
    probe = "import joopang.wsgi\nfrom django.test import Client\nClient(raise_request_exception=False).get('/healthz')\n"
    # when: the WSGI module loads and serves one request (the spans leave at exit)
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # then: the request is a server span of the service joopang-web
    assert '"kind": "SpanKind.SERVER"' in result.stdout, result.stdout[-2000:]
    assert '"service.name": "joopang-web"' in result.stdout
    assert '"http.route": "healthz"' in result.stdout or '"name": "GET healthz"' in result.stdout
