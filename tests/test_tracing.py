"""Spans, read with the SDK's in-memory exporter: one per GraphQL operation, per SQL round trip, per agent run and
per Messages API request (GenAI conventions), nested as they happen; no customer text, variables or keys in any
attribute; a subscription is one span however many events it sends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.observability import tracing
from dealgraph.standin import RunningStandin
from harness.transcripts import DISCOVERY_CALL
from tests.analysis_support import AGENTS, analyse_live, transcript_for_analysis
from tests.support import GraphQLClient, StandinControl, TenantFactory, make_settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.install(provider)
    yield spans
    tracing.install(None)
    provider.shutdown()


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin, exporter: InMemorySpanExporter) -> Settings:
    """Depends on the exporter: the app's database adds its SQL hooks only if tracing is on when it is built.
    Runs keep their claim on a loaded machine (`lease_s`): a run taken over is traced twice, as it ran twice."""
    return make_settings(database_url, standin_server.base_url, lease_s=30.0)


def named(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def parent_of(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> ReadableSpan:
    assert span.parent is not None, span.name
    [parent] = [other for other in spans if other.context.span_id == span.parent.span_id]
    return parent


async def test_an_analysis_is_traced_with_genai_attributes_and_no_customer_text(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, exporter: InMemorySpanExporter, settings: Settings
) -> None:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    exporter.clear()
    await gql("query Deals { deals(first: 5) { edges { node { name } } } }", as_=who)  # a compiled read
    await gql(
        "query Calls($id: ID!) { node(id: $id) { ... on Transcript { title } } }", {"id": ids["transcript"]}, as_=who
    )
    _, events = await analyse_live(app, gql, who, ids["transcript"])
    assert len(events) > 5  # started, progress, results, finished: many messages, one subscription span
    spans = exporter.get_finished_spans()

    [deals] = named(spans, "query Deals")
    assert deals.attributes == {
        "graphql.operation.type": "query",
        "dealgraph.outcome": "OK",
        "graphql.operation.name": "Deals",
    }
    [calls] = named(spans, "query Calls")
    statements = [span for span in spans if (span.attributes or {}).get("db.system.name") == "postgresql"]
    assert {span.name for span in statements} >= {"BEGIN", "SELECT", "COMMIT"}
    for operation in (deals, calls):  # through asyncpg (compiled reads) and through SQLAlchemy (resolvers)
        assert any(span.parent and parent_of(span, spans) is operation for span in statements), operation.name
    assert len(named(spans, "subscription")) == 1

    runs = named(spans, "invoke_agent ")
    assert sorted(span.name for span in runs) == sorted(f"invoke_agent {agent}" for agent in AGENTS)
    chats = named(spans, "chat ")
    assert len(chats) >= len(AGENTS)
    for chat in chats:
        attributes = dict(chat.attributes or {})
        assert parent_of(chat, spans) in runs
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "anthropic"
        assert attributes["gen_ai.request.model"] == settings.llm_model
        assert attributes["gen_ai.response.model"] == settings.llm_model
        assert attributes["gen_ai.usage.input_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] > 0
        assert "gen_ai.usage.cache_read.input_tokens" in attributes
        assert "gen_ai.usage.cache_creation.input_tokens" in attributes
        assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
        assert 0 < attributes["gen_ai.response.time_to_first_chunk"] < 60
    assert any(
        span.attributes and span.attributes.get("db.system.name")
        for span in spans
        if span.parent and parent_of(span, spans) in runs
    )  # the runs' own reads and writes

    secrets = [who.api_key, "Northwind", DISCOVERY_CALL.splitlines()[1][:40], ids["transcript"]]
    for span in spans:
        for value in (span.attributes or {}).values():
            text = str(value)
            assert not any(secret in text for secret in secrets), (span.name, value)


async def test_a_refused_request_marks_its_request_and_run_spans(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, exporter: InMemorySpanExporter, standin: StandinControl
) -> None:
    await standin.behave("stakeholders", fail_always=400)  # invalid_request_error: not retried
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    exporter.clear()
    await analyse_live(app, gql, who, ids["transcript"], agents=["STAKEHOLDERS"])
    spans = exporter.get_finished_spans()
    [chat] = named(spans, "chat ")
    [run] = named(spans, "invoke_agent stakeholders")
    assert parent_of(chat, spans) is run
    for span in (chat, run):
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "BAD_REQUEST"
    assert (run.attributes or {})["dealgraph.run.outcome"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "dealgraph"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_tracing_is_off_unless_the_otel_settings_ask_for_it(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.wanted(environ) is wanted


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that keeps what it was sent."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_the_otel_settings_export_spans_over_otlp() -> None:
    """A process started with an OTLP endpoint exports its spans there (the exporter flushes at shutdown)."""
    collector = HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        probe = (
            "from dealgraph.config import Settings\n"
            "from dealgraph.observability import setup, tracing\n"
            "setup.observe(Settings())\n"
            "assert tracing.enabled()\n"
            "with tracing.tracer().start_as_current_span('probe-span'):\n"
            "    pass\n"
            "setup.stop_observing()\n"
        )
        env = os.environ | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
            "OTEL_SERVICE_NAME": "dealgraph-probe",
        }
        subprocess.run([sys.executable, "-c", probe], env=env, check=True, timeout=60)
    finally:
        collector.shutdown()
    [(path, body)] = _Collector.received
    assert path == "/v1/traces"
    assert b"probe-span" in body and b"dealgraph-probe" in body
