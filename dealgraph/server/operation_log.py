"""One INFO line per GraphQL operation: name, type, tenant, duration and error count, never variables."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from dealgraph.logs import log_context

log = logging.getLogger("dealgraph.operations")


def _operation_type(context: ExecutionContext) -> str:
    try:
        return context.operation_type.value
    except RuntimeError:  # not parsed, or no operation of the requested name
        return "unknown"


class OperationLog(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        principal = getattr(context.context, "principal", None)
        tenant_id = str(principal.tenant_id) if principal is not None else None
        started = time.perf_counter()
        with log_context(tenant_id=tenant_id, operation=context.operation_name):
            yield
            name = context.operation_name or "anonymous"
            log.info(
                "graphql %s %s finished",
                _operation_type(context),
                name,
                extra={
                    "operation": name,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "error_count": len(getattr(context.result, "errors", None) or []),
                },
            )
