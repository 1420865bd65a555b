"""The one way agents reach Claude: `anthropic.AsyncAnthropic`, streaming, a forced tool call.

The SDK's own retries are off (`max_retries=0`): retrying here lets a run report how many API
requests its result took, and honour `retry-after` the same way for every error.
Streaming lets the caller report progress (output tokens so far) while the model is still writing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anthropic

from dealgraph.agents.standin import SIMULATED_HEADER
from dealgraph.config import Settings

_CHARS_PER_TOKEN = 4
_MAX_BACKOFF_S = 20.0

ProgressCallback = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True, slots=True)
class ToolCall:
    tool_use_id: str
    input: object
    usage: Usage
    model: str
    stop_reason: str | None
    simulated: bool
    requests: int


class LlmError(Exception):
    """A Messages API failure, with a stable code clients can act on."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


_STATUS_CODES = {400: "BAD_REQUEST", 401: "AUTHENTICATION_FAILED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 413: "REQUEST_TOO_LARGE", 429: "RATE_LIMITED", 529: "OVERLOADED"}


def _as_llm_error(error: anthropic.APIError) -> LlmError:
    if isinstance(error, anthropic.APITimeoutError):
        return LlmError("TIMEOUT", "the Messages API did not answer in time", retryable=True)
    if isinstance(error, anthropic.APIConnectionError):
        return LlmError("CONNECTION_FAILED", "could not reach the Messages API", retryable=True)
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        code = _STATUS_CODES.get(status, "API_ERROR")
        retryable = status in (408, 409, 429) or status >= 500
        return LlmError(code, f"{status}: {_api_message(error)}", retryable=retryable, retry_after=_retry_after(error))
    return LlmError("API_ERROR", str(error), retryable=True)


def _api_message(error: anthropic.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    detail = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
    return str(detail.get("message") or error.message)


def _retry_after(error: anthropic.APIStatusError) -> float | None:
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
    return None


def estimate_tokens(characters: int) -> int:
    return characters // _CHARS_PER_TOKEN


class LlmClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sdk = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key or "simulated-no-key",
            base_url=settings.anthropic_base_url,
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )

    async def force_tool(
        self,
        *,
        tool_name: str,
        system: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        model: str,
        max_tokens: int,
        on_progress: ProgressCallback,
    ) -> ToolCall:
        params = {
            "model": model,
            "max_tokens": max_tokens,
            "system": list(system),
            "tools": list(tools),
            "tool_choice": {"type": "tool", "name": tool_name},
            "messages": list(messages),
        }
        for request in range(1, self.settings.llm_max_retries + 2):
            try:
                return await self._stream(params, tool_name, on_progress, request)
            except anthropic.APIError as error:
                failure = _as_llm_error(error)
            if not failure.retryable or request > self.settings.llm_max_retries:
                raise failure
            await asyncio.sleep(self._backoff(request, failure.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream(
        self, params: dict[str, Any], tool_name: str, on_progress: ProgressCallback, request: int
    ) -> ToolCall:
        streamed = 0
        async with self.sdk.messages.stream(**params) as stream:
            async for event in stream:
                if event.type == "input_json":
                    streamed += len(event.partial_json)
                    await on_progress(estimate_tokens(streamed))
            message = await stream.get_final_message()
            simulated = stream.response.headers.get(SIMULATED_HEADER) == "true"
        block = next((b for b in message.content if b.type == "tool_use" and b.name == tool_name), None)
        if block is None:
            raise LlmError("NO_TOOL_CALL", f"the model did not call {tool_name}")
        usage = message.usage
        return ToolCall(
            tool_use_id=block.id,
            input=block.input,
            usage=Usage(
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_input_tokens or 0,
                usage.cache_creation_input_tokens or 0,
            ),
            model=message.model,
            stop_reason=message.stop_reason,
            simulated=simulated,
            requests=request,
        )

    async def count_tokens(
        self, *, model: str, system: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], messages: Sequence[dict[str, Any]]
    ) -> tuple[int, bool]:
        """Input tokens of a request as the Messages API counts them, and whether the stand-in counted."""
        try:
            raw = await self.sdk.messages.with_raw_response.count_tokens(
                model=model, system=list(system), tools=list(tools), messages=list(messages)
            )
        except anthropic.APIError as error:
            raise _as_llm_error(error) from error
        return (await raw.parse()).input_tokens, raw.headers.get(SIMULATED_HEADER) == "true"

    def _backoff(self, request: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, _MAX_BACKOFF_S)
        return min(0.5 * 2 ** (request - 1), _MAX_BACKOFF_S) * random.uniform(0.8, 1.2)

    async def close(self) -> None:
        await self.sdk.close()
