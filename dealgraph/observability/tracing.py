"""OpenTelemetry traces: off by default, on with the standard `OTEL_*` environment (OTLP exporter).

Tracing starts when `OTEL_TRACES_EXPORTER` names an exporter (`otlp` or `console`) or an OTLP endpoint is set
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), unless `OTEL_SDK_DISABLED=true`; the SDK
and the exporter read the rest (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, headers, sampler...). The SDK
is the `tracing` extra: `pip install 'dealgraph[tracing]'`.

Spans: one per GraphQL operation, per SQL round trip, per agent run, per Messages API request (GenAI semantic
conventions). Attributes never hold customer text, query variables, SQL parameters or keys: only names, types,
codes, counts and durations. A process without tracing gets OpenTelemetry's no-op tracer, and call sites that
build attributes ask `span.is_recording()` first.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Tracer, TracerProvider

log = logging.getLogger(__name__)

SCOPE = "dealgraph"
_EXPORTERS = {"otlp", "console"}
_NO_OP = trace.NoOpTracer()
_state: dict[str, Any] = {"provider": None, "tracer": _NO_OP, "configured": False}


def tracer() -> Tracer:
    """The tracer of the installed provider (`install`, `configure_from_environment`), or a no-op one."""
    found: Tracer = _state["tracer"]
    return found


def enabled() -> bool:
    """Whether spans are recorded: hooks that cost something even when unsampled (SQL) are added only then."""
    return _state["provider"] is not None


def install(provider: TracerProvider | None) -> None:
    """Use `provider` for dealgraph's spans (None: stop tracing). Not OpenTelemetry's global provider, which can be set
    only once per process: tests install one with an in-memory exporter and take it away again."""
    _state["provider"] = provider
    _state["tracer"] = provider.get_tracer(SCOPE) if provider is not None else _NO_OP
    _state["configured"] = False


def wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter in _EXPORTERS
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_from_environment() -> bool:
    """Install an SDK provider exporting in batches if the environment asks for traces; True if it did."""
    if _state["provider"] is not None or not wanted():
        return _state["provider"] is not None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        log.error(
            "OTEL_* settings ask for traces, but the OpenTelemetry SDK is missing: pip install 'dealgraph[tracing]'"
        )
        return False
    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.error("OTLP traces need the OTLP exporter: pip install 'dealgraph[tracing]'")
            return False
        exporter = OTLPSpanExporter()
    provider = SdkTracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or SCOPE})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    _state["configured"] = True
    log.info("tracing: spans exported with the %s exporter", type(exporter).__name__)
    return True


def shutdown() -> None:
    """Export what is buffered (the batch processor exports in the background) and stop tracing, if tracing was
    configured here: a provider someone else installed (a test's) is theirs to shut down."""
    provider = _state["provider"]
    if _state["configured"] and provider is not None:
        provider.shutdown()
        install(None)
