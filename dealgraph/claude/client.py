"""The one way agents reach Claude: `anthropic.AsyncAnthropic`, streaming, structured outputs.

Each agent asks for its result as JSON outputs (`output_config.format` with a JSON schema generated from
its pydantic model): the way the current models take a schema-constrained answer. The models we run
think by default, and a thinking model refuses a forced tool choice with a 400, so no tool is forced.

The SDK's own retries are off (`max_retries=0`): retrying here lets a run report how many API requests
its result took, honour `retry-after` the same way for every error, and treat an `error` event that
arrives after a 200 (e.g. `overloaded_error` mid-stream) exactly like the same error before the response.
Each attempt has three deadlines (see the `llm_*timeout*` settings): its response must start within the
first-byte timeout, a started stream may not fall silent for longer than the idle timeout, and the whole
attempt must end within an overall cap that grows with `max_tokens`, so a stream that keeps trickling bytes
never outlives it while a long answer is not cut for being long. A timed-out attempt is billed what its
stream had reported (message_start's input, message_delta's output), like every other failure.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import httpx2

from dealgraph.claude.models import SIMULATED_HEADER, Effort
from dealgraph.claude.request_span import request_span
from dealgraph.claude.stream import MessageStream, StreamError
from dealgraph.config import Settings

if TYPE_CHECKING:
    import anthropic

_CHARS_PER_TOKEN = 3
"""Streamed characters per output token, roughly, for progress only: the current models' tokenizer makes about
30 % more tokens of a text than the four characters a token of earlier ones (see `dealgraph.claude.tokens`)."""

ProgressCallback = Callable[[int], Awaitable[None]]
StartCallback = Callable[[], Awaitable[None]]
T = TypeVar("T")


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
    diagnostics: dict[str, str | None] | None = None
    """The API's prompt-cache diagnostics (https://platform.claude.com/docs/en/build-with-claude/cache-diagnostics):
    `{"previous_message_id": id}` has the response say why this request could not reuse that earlier one's
    cached prefix (`Completion.diagnostics`); `None` as the id opts in without a comparison."""

    def params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "messages": self.messages,
            "output_config": {"effort": self.effort, "format": {"type": "json_schema", "schema": self.schema}},
            **({} if self.diagnostics is None else {"diagnostics": self.diagnostics}),
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
    message_id: str = ""
    """The API's id of the message (`msg_…`), what a later request's `diagnostics` names."""
    diagnostics: dict[str, Any] | None = None
    """The response's `diagnostics` when the request asked for them; None also when nothing diverged."""
    first_token_s: float | None = None
    """Seconds from sending the answered request to its first content delta (thinking included)."""


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


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: `retry-after-ms`, else `retry-after` as seconds or as an HTTP-date (RFC 9110 §10.2.3,
    both forms are valid; the SDK's own `_parse_retry_after_header` reads the same three)."""
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # "-0000": UTC, as HTTP-dates are
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_SPEND_LIMIT_400 = "You have reached your specified"
"""How a 400 for an organization or workspace spend limit you set begins ("… API usage limits" / "… workspace
API usage limits"; https://platform.claude.com/docs/en/api/errors, 400): no retry succeeds before the date it names."""
_TIER_SPEND_CAP = "enforced_spend_limit_reached"
"""`error.details.error_code` of the 429 for the usage tier's monthly spend cap, which carries no `retry-after`
(https://platform.claude.com/docs/en/api/errors, 429; the SDK's `EnforcedSpendLimitReachedError`)."""


def _retryable(error: anthropic.APIStatusError, by_type: bool) -> bool:
    """The API's own `x-should-retry` header wins when present (the SDK treats it as authoritative)."""
    header = error.response.headers.get("x-should-retry") if error.status_code != 200 else None
    return header == "true" if header in ("true", "false") else by_type


def error_of_type(error_type: object, message: str) -> LlmError:
    """An error known only by its `error.type` (a mid-stream `error` event, an `errored` batch result)."""
    code, retryable = _ERROR_TYPES.get(error_type if isinstance(error_type, str) else "", ("API_ERROR", True))
    return LlmError(code, message, retryable=retryable)


def as_llm_error(error: Exception) -> LlmError:
    """Every way a request can fail, as one of our codes; anything unrecognised is not retried."""
    import anthropic  # its error classes; loaded already when the error came from the SDK

    if isinstance(error, LlmError):
        return error
    if isinstance(error, StreamError):
        return error_of_type(error.error.get("type"), f"mid-stream: {error}")
    if isinstance(error, anthropic.APITimeoutError):
        return LlmError("TIMEOUT", "the Messages API did not answer in time", retryable=True)
    if isinstance(error, anthropic.APIConnectionError | httpx2.TransportError):
        # before the response, or the connection dropped mid-stream (httpx2 raises it from the body iterator)
        return LlmError("CONNECTION_FAILED", f"the connection to the Messages API failed: {error}", retryable=True)
    if isinstance(error, anthropic.APIStatusError):
        code, retryable = _ERROR_TYPES[_error_type(error)]
        where = "mid-stream" if error.status_code == 200 else str(error.status_code)
        message = str(_error_detail(error).get("message") or error.message)
        wait = retry_after_s(error.response.headers)
        if _spend_limit(error, message, wait):
            return LlmError(
                "SPEND_LIMIT_REACHED",
                f"{where}: {message} (a spend limit: retrying cannot succeed before it resets or is raised)",
            )
        if error.status_code == 429 and wait is None:  # every rate limit says when to come back
            return LlmError(code, f"{where}: {message} (no retry-after: not retried)")
        return LlmError(code, f"{where}: {message}", retryable=_retryable(error, retryable), retry_after=wait)
    return LlmError("API_ERROR", f"{type(error).__name__}: {error}")


@contextmanager
def sdk_errors_as_llm_errors() -> Iterator[None]:
    """The SDK's errors and the transport's raised in the block, as `LlmError`."""
    import anthropic  # the block calls the SDK, which loads it anyway

    try:
        yield
    except (anthropic.APIError, httpx2.TransportError) as error:
        raise as_llm_error(error) from error


def _spend_limit(error: anthropic.APIStatusError, message: str, wait: float | None) -> bool:
    """A spend limit is not retried, whatever `x-should-retry` says: it lasts until a date, often next month."""
    if error.status_code == 400:
        return message.startswith(_SPEND_LIMIT_400)
    return error.status_code == 429 and wait is None and getattr(error, "error_code", None) == _TIER_SPEND_CAP


def progress_tokens(characters: int) -> int:
    """Output tokens so far, estimated from streamed characters, for progress events only."""
    return characters // _CHARS_PER_TOKEN


_UNUSED_STOPS = {
    "tool_use": ("UNEXPECTED_TOOL_USE", "the model called a tool, but the agents offer none"),
    "pause_turn": ("TURN_PAUSED", "the model paused its turn, which only server tools do, and the agents use none"),
    "stop_sequence": ("STOP_SEQUENCE", "the model stopped at a stop sequence, but the agents set none"),
}
"""Stop reasons of features the agents do not use yet (https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons):
should one come, the answer is not a complete JSON object, so the run fails saying which it was."""


def _refusal(message: dict[str, Any]) -> str:
    """The refusal's `stop_details` (category, explanation; both may be null) in words."""
    details = message.get("stop_details") or {}
    category, explanation = details.get("category"), details.get("explanation")
    said = f"; category: {category}" if category else ""
    return f"the model declined to analyse this call (stop_reason: refusal{said})" + (
        f": {explanation}" if explanation else ""
    )


def answer_text(message: dict[str, Any], max_tokens: int, usage: Usage) -> str:
    """The JSON text of the answer; thinking blocks never reach results. Only `end_turn` is an answer, every
    other stop reason is a failure (https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons).
    `usage` is what the message was billed, carried by the error when there is no usable answer."""
    stop_reason = message.get("stop_reason")
    if stop_reason == "end_turn":
        return "".join(block["text"] for block in message["content"] if block.get("type") == "text")
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
        raise LlmError("REFUSED", _refusal(message), usage=usage)
    code, why = _UNUSED_STOPS.get(stop_reason, ("UNKNOWN_STOP_REASON", "dealgraph does not know this stop reason"))
    raise LlmError(code, f"{why} (stop_reason: {stop_reason})", usage=usage)


def message_usage(message: dict[str, Any]) -> Usage:
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


def completion_of(message: dict[str, Any], max_tokens: int, *, simulated: bool, requests: int) -> Completion:
    """A whole Message (streamed, or a batch result) as a completion; raises `LlmError` when it is no answer."""
    usage = message_usage(message)
    return Completion(
        text=answer_text(message, max_tokens, usage),
        content=[{key: value for key, value in block.items() if value is not None} for block in message["content"]],
        usage=usage,
        model=message["model"],
        stop_reason=message.get("stop_reason"),
        simulated=simulated,
        requests=requests,
        message_id=message.get("id", ""),
        diagnostics=message.get("diagnostics"),
    )


@cache
def _tls_context() -> ssl.SSLContext:
    """The SDK's default TLS settings, built once per process: a client built with the default `verify=True`
    loads the CA bundle again (about 20 ms of CPU), and a process may build several (`llm check`, an app
    per test in the suite)."""
    return httpx2.create_ssl_context()


def _partial_usage(stream: MessageStream) -> Usage:
    """What a broken stream had been billed so far (message_start's input, the deltas' output), if anything."""
    return message_usage(stream.final()) if stream.started else Usage()


class LlmClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def sdk(self) -> anthropic.AsyncAnthropic:
        """Built at the first request: importing the SDK takes about a second of CPU, which an API process whose
        analyses run in the analysis pool's process may never need to spend (`dealgraph analysis-pool` builds
        it as it starts)."""
        import anthropic

        # The socket read timeout only backs up the client's own deadlines (`_attempt`), which name what expired.
        read_timeout = max(self.settings.llm_first_byte_timeout_s, self.settings.llm_idle_timeout_s) + 1.0
        return anthropic.AsyncAnthropic(
            api_key=self.settings.anthropic_api_key or "simulated-no-key",
            base_url=self.settings.anthropic_base_url,
            timeout=read_timeout,
            max_retries=0,
            http_client=anthropic.DefaultAioHttpClient(timeout=read_timeout, verify=_tls_context()),
            # the request span is our own (`request_span`): it has the usage read from the raw stream and the time
            # to the first chunk, and no environment setting can make it record prompts or answers
            open_telemetry=False,
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
        self.sdk  # noqa: B018 (built, the first time, before an attempt's deadlines start counting)
        completion, spent = await self._retried(
            lambda attempt: self._attempt(request, on_progress, on_response_start, attempt)
        )
        return replace(completion, usage=completion.usage + spent)

    async def _retried(self, attempt_once: Callable[[int], Awaitable[T]]) -> tuple[T, Usage]:
        """Runs `attempt_once(attempt)` until it succeeds, up to `llm_max_retries` retries of retryable failures.

        Returns the result with what the failed attempts before it were billed; a failure that ends the retries
        is raised billed for every attempt, itself included, so no token spent is lost from a run's totals."""
        spent = Usage()
        for attempt in range(1, self.settings.llm_max_retries + 2):
            try:
                return await attempt_once(attempt), spent
            except LlmError as error:
                failure = error.billed(spent)
            spent = failure.usage
            if not failure.retryable or attempt > self.settings.llm_max_retries:
                raise failure
            await asyncio.sleep(self._backoff(attempt, failure))
        raise AssertionError("unreachable")  # pragma: no cover

    def overall_timeout_s(self, max_tokens: int) -> float:
        """The overall cap of one attempt: fixed, plus what `max_tokens` may take to generate."""
        return self.settings.llm_timeout_s + max_tokens * self.settings.llm_timeout_s_per_1k_tokens / 1000

    async def _attempt(
        self, request: StructuredRequest, on_progress: ProgressCallback, on_response_start: StartCallback, attempt: int
    ) -> Completion:
        """One request under its three deadlines; whichever expires, the error says which and bills the stream."""
        stream = MessageStream()
        overall = self.overall_timeout_s(request.max_tokens)
        try:
            async with (
                request_span(request.model, request.max_tokens, stream) as span,
                asyncio.timeout(overall) as whole,
                asyncio.timeout(self.settings.llm_first_byte_timeout_s) as quiet,
            ):
                completion = await self._stream(request, stream, quiet, on_progress, on_response_start, attempt)
                span.finished(completion.model, completion.message_id, completion.usage, completion.stop_reason)
                return completion
        except TimeoutError as error:
            if whole.expired():  # a runaway stream: trying again would take as long and be billed again
                failure = LlmError("TIMEOUT", f"no complete answer within the overall {overall:g} s")
            elif stream.started:
                idle = self.settings.llm_idle_timeout_s
                failure = LlmError("TIMEOUT", f"the response stream fell silent for {idle:g} s", retryable=True)
            else:
                first = self.settings.llm_first_byte_timeout_s
                failure = LlmError("TIMEOUT", f"the response did not start within {first:g} s", retryable=True)
            raise failure.billed(_partial_usage(stream)) from error

    async def _stream(
        self,
        request: StructuredRequest,
        stream: MessageStream,
        quiet: asyncio.Timeout,
        on_progress: ProgressCallback,
        on_response_start: StartCallback,
        attempt: int,
    ) -> Completion:
        """`quiet` expires at the first-byte deadline until message_start, then an idle timeout after each event."""
        loop = asyncio.get_running_loop()
        idle = self.settings.llm_idle_timeout_s
        sdk = self.sdk.messages.with_streaming_response
        import anthropic  # loaded by `self.sdk`

        sent = time.perf_counter()
        first_token_s: float | None = None
        with sdk_errors_as_llm_errors():
            async with sdk.create(**request.params(), stream=True) as response:  # non-2xx raises here
                simulated = response.headers.get(SIMULATED_HEADER) == "true"
                try:
                    async for sse in anthropic.AsyncStream.raw_events(response.http_response):
                        kind = stream.add(sse.event, sse.data)
                        if stream.started:
                            quiet.reschedule(loop.time() + idle)
                        if kind == "message_start":
                            await on_response_start()
                        elif kind == "content_block_delta":
                            if first_token_s is None:
                                first_token_s = time.perf_counter() - sent
                            await on_progress(progress_tokens(stream.streamed_characters))
                except (StreamError, anthropic.APIError, httpx2.TransportError) as error:  # after the 200
                    raise as_llm_error(error).billed(_partial_usage(stream)) from error
        if not stream.started:
            raise LlmError("CONNECTION_FAILED", "the response stream ended before the message started", retryable=True)
        completion = completion_of(stream.final(), request.max_tokens, simulated=simulated, requests=attempt)
        return replace(completion, first_token_s=first_token_s)

    async def count_tokens(self, request: StructuredRequest) -> tuple[int, bool]:
        """Input tokens of a request as the Messages API counts them (output format included: the schema
        is part of the prompt), and whether the stand-in counted. Retryable failures (a kept-alive connection
        the other end had just closed, an overload) are retried as `complete` retries them."""
        params = request.params()
        del params["max_tokens"]  # count_tokens takes everything that makes up the prompt, and only that
        params.pop("diagnostics", None)

        async def count_once(attempt: int) -> tuple[int, bool]:
            with sdk_errors_as_llm_errors():
                raw = await self.sdk.messages.with_raw_response.count_tokens(**params)
                counted = await raw.parse()
            return counted.input_tokens, raw.headers.get(SIMULATED_HEADER) == "true"

        counted, _ = await self._retried(count_once)  # counting is free: nothing billed to carry
        return counted

    def _backoff(self, attempt: int, failure: LlmError) -> float:
        """`retry-after` is honoured exactly up to `llm_max_retry_after_s`; beyond it the run fails now,
        saying when the API will take requests again, instead of holding an analysis slot for minutes."""
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
        if "sdk" in self.__dict__:  # built
            await self.sdk.close()
