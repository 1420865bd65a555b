"""The one way agents reach Claude: `anthropic.AsyncAnthropic`, streaming, structured outputs.

Each agent asks for its result as JSON outputs (`output_config.format` with a JSON schema generated from
its pydantic model): the way the current models take a schema-constrained answer. The models we run
think by default, and a thinking model refuses a forced tool choice with a 400, so no tool is forced.

The SDK's own retries are off (`max_retries=0`): retrying here lets a run report how many API requests
its result took, honour `retry-after` the same way for every error, and treat an `error` event that
arrives after a 200 (e.g. `overloaded_error` mid-stream) exactly like the same error before the response.
Every request has a wall-clock deadline: a stream that keeps trickling bytes never outlives it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import astuple, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx2

from dealgraph.claude.models import Effort
from dealgraph.claude.stream import MessageStream, StreamError
from dealgraph.config import Settings

SIMULATED_HEADER = "x-dealgraph-simulated"
"""Set on every response of the stand-in (`dealgraph.standin`): a result it produced is marked simulated."""

_CHARS_PER_TOKEN = 4

ProgressCallback = Callable[[int], Awaitable[None]]
StartCallback = Callable[[], Awaitable[None]]


async def no_callback() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    thinking_tokens: int = 0
    """Part of `output_tokens` (the API bills thinking as output) spent on reasoning."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True, slots=True)
class StructuredRequest:
    """One agent call: a JSON answer constrained by `schema` (already in the structured-outputs subset)."""

    model: str
    max_tokens: int
    effort: Effort
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    schema: dict[str, Any]
    answer_key: str | None = None
    """Set when `schema` is the shared schema of all agents: this agent's answer is under this key."""

    def params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "messages": self.messages,
            "output_config": {"effort": self.effort, "format": {"type": "json_schema", "schema": self.schema}},
        }


@dataclass(frozen=True, slots=True)
class Completion:
    """The model's answer: its JSON text and the assistant turn exactly as it must be sent back."""

    text: str
    content: list[dict[str, Any]] = field(repr=False)
    """Every block, thinking blocks (with their signatures) included, for a follow-up turn."""
    usage: Usage
    model: str
    stop_reason: str | None
    simulated: bool
    requests: int


class LlmError(Exception):
    """A Messages API failure, with a stable code clients can act on, and what it was billed."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.usage = usage or Usage()
        """Tokens of the failed request(s): a truncated answer or a broken stream is still billed."""

    def billed(self, usage: Usage) -> LlmError:
        """The same failure, also accounting for `usage` spent before it."""
        return LlmError(
            self.code, self.message, retryable=self.retryable, retry_after=self.retry_after, usage=self.usage + usage
        )


_ERROR_TYPES: dict[str, tuple[str, bool]] = {
    "invalid_request_error": ("BAD_REQUEST", False),
    "authentication_error": ("AUTHENTICATION_FAILED", False),
    "billing_error": ("BILLING_ERROR", False),
    "permission_error": ("PERMISSION_DENIED", False),
    "not_found_error": ("NOT_FOUND", False),
    "conflict_error": ("CONFLICT", True),
    "request_too_large": ("REQUEST_TOO_LARGE", False),
    "rate_limit_error": ("RATE_LIMITED", True),
    "api_error": ("API_ERROR", True),
    "timeout_error": ("TIMEOUT", True),
    "overloaded_error": ("OVERLOADED", True),
}
"""`error.type` → (our code, retryable), from https://platform.claude.com/docs/en/api/errors.

Mapped by type, not status, because an error event inside a 200 stream has only its type."""
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _error_detail(error: anthropic.APIStatusError) -> dict[str, Any]:
    body = error.body if isinstance(error.body, dict) else {}
    detail = body.get("error")
    return detail if isinstance(detail, dict) else {}


def _error_type(error: anthropic.APIStatusError) -> str:
    declared = _error_detail(error).get("type")
    if isinstance(declared, str) and declared in _ERROR_TYPES:
        return declared
    return _STATUS_TYPES.get(error.status_code, "api_error" if error.status_code >= 500 else "invalid_request_error")


def _retry_after(error: anthropic.APIStatusError) -> float | None:
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
    return None


def _retryable(error: anthropic.APIStatusError, by_type: bool) -> bool:
    """The API's own `x-should-retry` header wins when present (the SDK treats it as authoritative)."""
    header = error.response.headers.get("x-should-retry") if error.status_code != 200 else None
    return header == "true" if header in ("true", "false") else by_type


def as_llm_error(error: Exception) -> LlmError:
    """Every way a request can fail, as one of our codes; anything unrecognised is not retried."""
    if isinstance(error, LlmError):
        return error
    if isinstance(error, StreamError):
        declared = error.error.get("type")
        code, retryable = _ERROR_TYPES.get(declared if isinstance(declared, str) else "", ("API_ERROR", True))
        return LlmError(code, f"mid-stream: {error}", retryable=retryable)
    if isinstance(error, anthropic.APITimeoutError):
        return LlmError("TIMEOUT", "the Messages API did not answer in time", retryable=True)
    if isinstance(error, anthropic.APIConnectionError | httpx2.TransportError):
        # before the response, or the connection dropped mid-stream (httpx2 raises it from the body iterator)
        return LlmError("CONNECTION_FAILED", f"the connection to the Messages API failed: {error}", retryable=True)
    if isinstance(error, anthropic.APIStatusError):
        code, retryable = _ERROR_TYPES[_error_type(error)]
        where = "mid-stream" if error.status_code == 200 else str(error.status_code)
        message = str(_error_detail(error).get("message") or error.message)
        return LlmError(
            code, f"{where}: {message}", retryable=_retryable(error, retryable), retry_after=_retry_after(error)
        )
    return LlmError("API_ERROR", f"{type(error).__name__}: {error}")


def progress_tokens(characters: int) -> int:
    """Output tokens so far, estimated from streamed characters, for progress events only."""
    return characters // _CHARS_PER_TOKEN


def _answer(message: dict[str, Any], max_tokens: int, usage: Usage) -> str:
    """The JSON text of the answer; thinking blocks never reach results. `usage` is what the message was
    billed, carried by the error when there is no usable answer."""
    stop_reason = message.get("stop_reason")
    if stop_reason is None:  # the stream ended before message_delta: what it has is incomplete
        raise LlmError(
            "CONNECTION_FAILED",
            "the response stream ended before the message was complete",
            retryable=True,
            usage=usage,
        )
    if stop_reason == "max_tokens":
        raise LlmError(
            "OUTPUT_TRUNCATED",
            f"the model used all {max_tokens} output tokens (thinking included) before finishing its answer; "
            "raise the prompt version's maxTokens or lower its effort",
            usage=usage,
        )
    if stop_reason == "model_context_window_exceeded":
        raise LlmError("CONTEXT_TOO_LONG", "the call does not fit the model's context window", usage=usage)
    if stop_reason == "refusal":
        raise LlmError("REFUSED", "the model declined to analyse this call (stop_reason: refusal)", usage=usage)
    return "".join(block["text"] for block in message["content"] if block.get("type") == "text")


def _usage(message: dict[str, Any]) -> Usage:
    """The message's `usage` object (https://platform.claude.com/docs/en/api/messages); absent counts are 0."""
    usage = message.get("usage") or {}
    details = usage.get("output_tokens_details") or {}
    return Usage(
        usage.get("input_tokens") or 0,
        usage.get("output_tokens") or 0,
        usage.get("cache_read_input_tokens") or 0,
        usage.get("cache_creation_input_tokens") or 0,
        details.get("thinking_tokens") or 0,
    )


def _partial_usage(stream: MessageStream) -> Usage:
    """What a broken stream had been billed so far (message_start's input, the deltas' output), if anything."""
    return _usage(stream.final()) if stream.started else Usage()


class LlmClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sdk = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key or "simulated-no-key",
            base_url=settings.anthropic_base_url,
            timeout=settings.llm_timeout_s,
            max_retries=0,
            http_client=anthropic.DefaultAioHttpClient(timeout=settings.llm_timeout_s),
        )

    async def complete(
        self,
        request: StructuredRequest,
        *,
        on_progress: ProgressCallback,
        on_response_start: StartCallback = no_callback,
    ) -> Completion:
        """Retries retryable failures (before or during the stream) up to `llm_max_retries` times.

        The completion's usage includes what failed attempts were billed, so run totals are the whole bill."""
        spent = Usage()
        for attempt in range(1, self.settings.llm_max_retries + 2):
            try:
                async with asyncio.timeout(self.settings.llm_timeout_s):
                    completion = await self._stream(request, on_progress, on_response_start, attempt)
                return replace(completion, usage=completion.usage + spent)
            except TimeoutError:
                failure = LlmError(
                    "TIMEOUT", f"no complete answer within {self.settings.llm_timeout_s:g} s", retryable=True
                )
            except LlmError as error:
                failure = error
            failure = failure.billed(spent)  # every attempt so far, this one included
            spent = failure.usage
            if not failure.retryable or attempt > self.settings.llm_max_retries:
                raise failure
            await asyncio.sleep(self._backoff(attempt, failure))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream(
        self, request: StructuredRequest, on_progress: ProgressCallback, on_response_start: StartCallback, attempt: int
    ) -> Completion:
        stream = MessageStream()
        try:
            sdk = self.sdk.messages.with_streaming_response
            async with sdk.create(**request.params(), stream=True) as response:  # non-2xx raises here
                simulated = response.headers.get(SIMULATED_HEADER) == "true"
                try:
                    async for sse in anthropic.AsyncStream.raw_events(response.http_response):
                        kind = stream.add(sse.event, sse.data)
                        if kind == "message_start":
                            await on_response_start()
                        elif kind == "content_block_delta":
                            await on_progress(progress_tokens(stream.streamed_characters))
                except (StreamError, anthropic.APIError, httpx2.TransportError) as error:  # after the 200
                    raise as_llm_error(error).billed(_partial_usage(stream)) from error
        except (anthropic.APIError, httpx2.TransportError) as error:
            raise as_llm_error(error) from error
        if not stream.started:
            raise LlmError("CONNECTION_FAILED", "the response stream ended before the message started", retryable=True)
        message = stream.final()
        usage = _usage(message)
        return Completion(
            text=_answer(message, request.max_tokens, usage),
            content=[{key: value for key, value in block.items() if value is not None} for block in message["content"]],
            usage=usage,
            model=message["model"],
            stop_reason=message.get("stop_reason"),
            simulated=simulated,
            requests=attempt,
        )

    async def count_tokens(self, request: StructuredRequest) -> tuple[int, bool]:
        """Input tokens of a request as the Messages API counts them (output format included: the schema
        is part of the prompt), and whether the stand-in counted."""
        params = request.params()
        del params["max_tokens"]  # count_tokens takes everything that makes up the prompt, and only that
        try:
            raw = await self.sdk.messages.with_raw_response.count_tokens(**params)
            counted = await raw.parse()
        except (anthropic.APIError, httpx2.TransportError) as error:
            raise as_llm_error(error) from error
        return counted.input_tokens, raw.headers.get(SIMULATED_HEADER) == "true"

    def _backoff(self, attempt: int, failure: LlmError) -> float:
        """`retry-after` is honoured exactly up to `llm_max_retry_after_s`; beyond it the run fails now,
        saying when the API will take requests again, instead of holding a worker slot for minutes."""
        if failure.retry_after is None:
            return min(0.5 * 2 ** (attempt - 1), 20.0) * random.uniform(0.8, 1.2)
        cap = self.settings.llm_max_retry_after_s
        if failure.retry_after > cap:
            retry_at = datetime.now(UTC) + timedelta(seconds=failure.retry_after)
            raise LlmError(
                failure.code,
                f"{failure.message}; the API asked to retry after {failure.retry_after:g} s "
                f"(at {retry_at:%Y-%m-%dT%H:%M:%SZ}), longer than DEALGRAPH_LLM_MAX_RETRY_AFTER_S={cap:g}",
                retry_after=failure.retry_after,
                usage=failure.usage,
            )
        return failure.retry_after

    async def close(self) -> None:
        await self.sdk.close()
