"""OpenTelemetry tracing (issue 23 item 5): Django requests, Celery tasks (published and
run), psycopg queries and outgoing HTTP (httpx: the payment provider, the data-platform
webhook).

Off by default: nothing of OpenTelemetry is even imported, so a process without the
variables pays nothing. On with the standard ``OTEL_*`` variables
(https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):

- ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``: off, whatever else is set;
- on when ``OTEL_SDK_DISABLED=false``, ``OTEL_TRACES_EXPORTER`` names an exporter
  (``otlp``, ``console``), or ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set.

The exporter is OTLP over HTTP/protobuf (``OTEL_EXPORTER_OTLP_*`` variables: endpoint,
headers, timeout) or the console; spans leave in batches (``OTEL_BSP_*``). The service name
is ``OTEL_SERVICE_NAME`` or the caller's default (``joopang-web``, ``joopang-worker``);
``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_TRACES_SAMPLER`` / ``_ARG`` are read by the SDK.

Called once per process before the application serves anything: ``joopang/wsgi.py``,
``joopang/asgi.py``, ``manage.py`` (``runserver``) and ``joopang/celery.py`` (each worker
process). While a span is active, every log line carries its ``trace_id`` and ``span_id``
(``current_ids``, used by ``joopang.logging``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

_lock = threading.Lock()
#: The installed provider and instrumentors (``None``: tracing is off in this process).
_state: dict[str, Any] | None = None
#: ``opentelemetry.trace.get_current_span`` once tracing is on; ``None`` keeps logging cheap.
_current_span: Callable[[], Any] | None = None

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces (see the module docstring)."""
    env = os.environ if environ is None else environ
    disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower()
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if disabled in _TRUE or exporter == "none":
        return False
    return bool(
        disabled in _FALSE
        or exporter
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def _exporters(env: Mapping[str, str]) -> list[Any]:
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    exporters: list[Any] = []
    for name in names or ["otlp"]:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())  # reads OTEL_EXPORTER_OTLP_* itself
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r} (otlp, console, none)")
    return exporters


def setup_tracing(
    *,
    service_name: str = "joopang-web",
    exporter: Any = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Install tracing in this process if the ``OTEL_*`` variables ask for it; idempotent.
    Returns whether tracing is on.

    ``exporter``: export to this span exporter, synchronously, whatever the variables say
    (tests: an in-memory exporter). Must run before Django builds its middleware chain
    (the Django instrumentation inserts its middleware into ``settings.MIDDLEWARE``).
    """
    global _state, _current_span
    env = os.environ if environ is None else environ
    if exporter is None and not tracing_enabled(env):
        return False
    with _lock:
        if _state is not None:
            return True
        from opentelemetry import trace
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
        provider = TracerProvider(resource=Resource.create(attributes))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            for each in _exporters(env):
                provider.add_span_processor(BatchSpanProcessor(each))
        trace.set_tracer_provider(provider)  # first call wins (a test may install twice)
        instrumentors: list[Any] = [
            DjangoInstrumentor(),
            CeleryInstrumentor(),
            PsycopgInstrumentor(),
            HTTPXClientInstrumentor(),
        ]
        for instrumentor in instrumentors:
            instrumentor.instrument(tracer_provider=provider)
        _state = {"provider": provider, "instrumentors": instrumentors}
        _current_span = trace.get_current_span
    return True


def shutdown_tracing() -> None:
    """Undo ``setup_tracing`` (tests): uninstrument, flush and stop the provider."""
    global _state, _current_span
    with _lock:
        if _state is None:
            return
        for instrumentor in _state["instrumentors"]:
            instrumentor.uninstrument()
        _state["provider"].shutdown()
        _state, _current_span = None, None


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the active span as hex (32 and 16 digits, as OTLP
    backends show them), or ``None`` when tracing is off or no span is recording."""
    if _current_span is None:
        return None
    context = _current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
