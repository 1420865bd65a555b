"""Process-wide logging: text for people, JSON lines for log pipelines, request context on every line.

The request id, tenant id and operation name live in a context variable set by the request-id
middleware and the operation-log extension, so any log line written while serving a request (even
from a library) carries them without being passed around. Customer content (transcripts, prompts,
variables) is never put into messages at INFO or above: only ids, names, counts and durations.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Literal

LogFormat = Literal["text", "json"]
CONTEXT_FIELDS = ("request_id", "tenant_id", "operation")
# Libraries whose INFO output is a narrative of their internals (pgserver prints whole initdb/pg_ctl
# transcripts): only their warnings and errors are worth a line unless debugging.
CHATTY_LIBRARIES = ("pgserver",)

# each log_context() sets a new mapping; the default is read-only so no caller can mutate the shared one
_context: ContextVar[Mapping[str, str]] = ContextVar("dealgraph_log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add fields to every log record written inside the block (in this task and tasks it starts)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; context fields and `extra={...}` values become top-level keys."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {key: value for key, value in vars(record).items() if key not in self._STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name))
        return f"{line} [{context}]" if context else line


def log_handler(fmt: LogFormat, stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(level: str, fmt: LogFormat) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler(fmt))
    root.setLevel(level.upper())
    verbose = root.level <= logging.DEBUG
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
