"""The span of one Messages API request, with the OpenTelemetry GenAI semantic conventions.

https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/: named `chat {model}`, kind CLIENT; the usage
and finish reason come from the streamed message, the time to its first chunk from message_start. Neither the
prompt nor the answer is ever recorded: they are customer text.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from dealgraph.observability import tracing

if TYPE_CHECKING:
    from dealgraph.claude.client import Usage
    from dealgraph.claude.stream import MessageStream


class RequestSpan:
    def __init__(self, span: Span, stream: MessageStream) -> None:
        self.span = span
        self.stream = stream
        self.sent = time.perf_counter()

    def finished(self, model: str, message_id: str, usage: Usage, stop_reason: str | None) -> None:
        if not self.span.is_recording():
            return
        self.span.set_attributes(
            {
                "gen_ai.response.model": model,
                "gen_ai.response.id": message_id,
                "gen_ai.response.finish_reasons": [stop_reason or ""],
            }
        )
        self.usage(usage)

    def usage(self, usage: Usage) -> None:
        self.span.set_attributes(
            {
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
                "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
                "gen_ai.usage.reasoning.output_tokens": usage.thinking_tokens,
            }
        )

    def first_chunk(self) -> None:
        if self.stream.started_at is not None:
            self.span.set_attribute("gen_ai.response.time_to_first_chunk", self.stream.started_at - self.sent)


@asynccontextmanager
async def request_span(model: str, max_tokens: int, stream: MessageStream) -> AsyncIterator[RequestSpan]:
    """A failure sets `error.type` to its code (`LlmError.code`) and the usage billed so far."""
    from dealgraph.claude.client import LlmError, as_llm_error

    with tracing.tracer().start_as_current_span(
        f"chat {model}", kind=SpanKind.CLIENT, record_exception=False, set_status_on_exception=False
    ) as span:
        recording = span.is_recording()
        if recording:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": model,
                    "gen_ai.request.max_tokens": max_tokens,
                }
            )
        request = RequestSpan(span, stream)
        try:
            yield request
        except BaseException as error:
            if recording:
                if isinstance(error, TimeoutError):  # one of the client's deadlines (`LlmClient._attempt`)
                    span.set_attribute("error.type", "TIMEOUT")
                elif isinstance(error, Exception):
                    failure = as_llm_error(error)
                    span.set_attribute("error.type", failure.code)
                    if isinstance(error, LlmError):
                        request.usage(failure.usage)
                else:
                    span.set_attribute("error.type", type(error).__name__)
                span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            if recording:
                request.first_chunk()
