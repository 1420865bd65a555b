"""An INFO line per GraphQL operation: name, type, tenant, duration and error count, never variables.

Operations that end with errors are always logged. Successful ones only with `DEALGRAPH_ACCESS_LOG`, the
switch for a line per request: formatting and writing a line cost a tenth of a small query's CPU (py-spy
under `bench/read_throughput.py`), the price of an access log, which is off by default.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from dealgraph.logs import log_context

log = logging.getLogger("dealgraph.operations")


def operation_type(context: ExecutionContext) -> str:
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
            errors = len(getattr(context.result, "errors", None) or [])
            settings = getattr(context.context, "settings", None)
            if not errors and not (settings is not None and settings.access_log):
                return
            name = context.operation_name or "anonymous"
            log.info(
                "graphql %s %s finished",
                operation_type(context),
                name,
                extra={
                    "operation": name,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "error_count": errors,
                },
            )
