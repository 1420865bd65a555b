"""Each GraphQL operation as metrics (type, outcome code, duration) and as a span.

The outcome code is `OK`, or the first error's `code` (`dealgraph.errors.ErrorCode`); an operation that reached
GraphQL counts, whether it came over HTTP or a WebSocket. A subscription is one operation from subscribe to its
end, one span for its whole life: the events it sends are not spans. The span has the operation's type and name
(chosen by the client's code, like a route) and never its document, variables or results.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from dealgraph.observability import metrics, tracing
from dealgraph.schema.operation_log import operation_type


def outcome_code(context: ExecutionContext) -> str:
    errors = getattr(context.result, "errors", None) or context.pre_execution_errors
    if not errors:
        return "OK"
    code = (errors[0].extensions or {}).get("code")
    return str(code) if code else "UNKNOWN"


class OperationTelemetry(SchemaExtension):
    _subscription = False

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        if not tracing.enabled():  # no span to open: the cheapest path, taken by default
            try:
                yield
            finally:
                self._measure(started)
            return
        with tracing.tracer().start_as_current_span("graphql", kind=SpanKind.SERVER) as span:
            try:
                yield
            finally:
                self._measure(started)
                self._describe(span)

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if metrics.enabled() and operation_type(context) == "subscription" and not context.pre_execution_errors:
            self._subscription = True
            metrics.count_subscription(1)

    def _measure(self, started: float) -> None:
        if self._subscription:
            metrics.count_subscription(-1)
        if metrics.enabled():
            context = self.execution_context
            metrics.record_operation(operation_type(context), outcome_code(context), time.perf_counter() - started)

    def _describe(self, span: Span) -> None:
        if not span.is_recording():
            return
        context = self.execution_context
        kind, code, name = operation_type(context), outcome_code(context), context.operation_name
        span.update_name(f"{kind} {name}" if name else kind)
        span.set_attributes({"graphql.operation.type": kind, "dealgraph.outcome": code})
        if name:
            span.set_attribute("graphql.operation.name", name)
        if code != "OK":
            span.set_attribute("error.type", code)
            span.set_status(Status(StatusCode.ERROR))
