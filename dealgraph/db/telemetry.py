"""The database's share of metrics and traces: connections in use, waits for one, and a span per SQL round trip.

Statements reach PostgreSQL two ways: through SQLAlchemy (the ORM's prepared statements, seen by its cursor
events) and straight through asyncpg (transaction control, the analysis pool's one-statement writes, compiled
reads; seen by asyncpg's query loggers, which report each statement once it has ended, with its duration).
Either way a span is named after the statement's first keyword (`SELECT`, `COMMIT`...) and carries neither
the SQL text nor its parameters: a scope statement holds a tenant id, parameters hold customer text.
The hooks are installed only while tracing or metrics are on: otherwise they cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import Engine

from dealgraph.observability import metrics, tracing

_SPAN_KEY = "dealgraph_span"
_NANOSECONDS = 1_000_000_000


def operation_of(sql: str) -> str:
    """The first keyword, e.g. `SELECT`: what a statement does, without what it touches."""
    head = sql.lstrip(" \n\t(").split(None, 1)
    return head[0].upper().rstrip(";")[:16] if head else "SQL"


def _attributes(operation: str) -> dict[str, str]:
    return {"db.system.name": "postgresql", "db.operation.name": operation}


def log_query(record: Any) -> None:
    """asyncpg query logger: the statement has ended, so its span starts `elapsed` seconds ago.

    asyncpg calls it with `call_soon`, in a copy of the statement's context: the span gets the right parent."""
    end = time.time_ns()
    operation = operation_of(record.query)
    span = tracing.tracer().start_span(
        operation,
        kind=SpanKind.CLIENT,
        attributes=_attributes(operation),
        start_time=end - int(record.elapsed * _NANOSECONDS),
    )
    if record.exception is not None:
        span.set_attribute("error.type", type(record.exception).__name__)
        span.set_status(Status(StatusCode.ERROR))
    span.end(end_time=end)


def trace_driver(driver: Any) -> None:
    """Report every statement of this asyncpg connection (a new connection of either pool)."""
    if tracing.enabled():
        driver.add_query_logger(log_query)


def _before_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    operation = operation_of(statement)
    span = tracing.tracer().start_span(operation, kind=SpanKind.CLIENT, attributes=_attributes(operation))
    conn.info[_SPAN_KEY] = span


def _after_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if (span := conn.info.pop(_SPAN_KEY, None)) is not None:
        span.end()


def _failed(context: Any) -> None:
    if (span := context.connection.info.pop(_SPAN_KEY, None)) is not None:
        span.set_attribute("error.type", type(context.original_exception).__name__)
        span.set_status(Status(StatusCode.ERROR))
        span.end()


def _connected(dbapi_connection: Any, record: Any) -> None:
    trace_driver(dbapi_connection.driver_connection)


def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    metrics.count_connection("orm", 1)


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    metrics.count_connection("orm", -1)


def instrument_engine(engine: Engine) -> None:
    """Spans for the engine's statements (with tracing), connections in use (with metrics)."""
    if tracing.enabled():
        event.listen(engine, "connect", _connected)
        event.listen(engine, "before_cursor_execute", _before_execute)
        event.listen(engine, "after_cursor_execute", _after_execute)
        event.listen(engine, "handle_error", _failed)
    if metrics.enabled():
        event.listen(engine, "checkout", _checked_out)
        event.listen(engine, "checkin", _checked_in)


@contextmanager
def taking_connection(pool: str) -> Iterator[None]:
    """Times taking a connection from `pool`: the wait for a free one, or opening one."""
    if not metrics.enabled():
        yield
        return
    started = time.perf_counter()
    yield
    metrics.record_pool_wait(pool, time.perf_counter() - started)
