"""Each GraphQL operation as metrics (type, outcome code, duration) and as a span.

The outcome code is `OK`, or the first error's `code` (`dealgraph.errors.ErrorCode`); an operation that reached
GraphQL counts, whether it came over HTTP or a WebSocket. A subscription is one operation from subscribe to its
end, one span for its whole life: the events it sends are not spans. The span has the operation's type and name
(chosen by the client's code, like a route) and never its document, variables or results.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from opentelemetry.trace import SpanKind, Status, StatusCode
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
        context = self.execution_context
        started = time.perf_counter()
        with tracing.tracer().start_as_current_span("graphql", kind=SpanKind.SERVER) as span:
            try:
                yield
            finally:
                if self._subscription:
                    metrics.count_subscription(-1)
                kind = operation_type(context)
                code = outcome_code(context)
                metrics.record_operation(kind, code, time.perf_counter() - started)
                if span.is_recording():
                    name = context.operation_name
                    span.update_name(f"{kind} {name}" if name else kind)
                    span.set_attributes({"graphql.operation.type": kind, "dealgraph.outcome": code})
                    if name:
                        span.set_attribute("graphql.operation.name", name)
                    if code != "OK":
                        span.set_attribute("error.type", code)
                        span.set_status(Status(StatusCode.ERROR))

    def on_validate(self) -> Iterator[None]:
        yield
        if operation_type(self.execution_context) == "subscription" and not self.execution_context.pre_execution_errors:
            self._subscription = True
            metrics.count_subscription(1)
