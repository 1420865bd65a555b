"""A local Messages API that the real `anthropic` SDK can talk to, so agents run without network or key.

It speaks the wire protocol (status codes, error bodies, SSE frames, usage, retry headers) faithfully
enough that SDK retries, streaming accumulation and error mapping behave exactly as against the real
API, while the content is synthesized (see `synth`) and every response is marked
`x-dealgraph-simulated: true`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import secrets
import string
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import jiter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealgraph.agents.standin.config import DEFAULT_AGENT, ERROR_TYPES, AgentBehaviour, StandinConfig
from dealgraph.agents.standin.synth import drop_required, synthesize
from dealgraph.agents.standin.transcript import Utterance, as_blocks, block_text, transcript_of

SIMULATED_HEADER = "x-dealgraph-simulated"
_CACHE_CAPACITY = 1024
_ID_ALPHABET = string.ascii_letters + string.digits
_RETRYABLE = frozenset({408, 409, 429})
_DEFAULT_RATE_LIMIT_RETRY_S = 1.0
"""The real API always tells a rate-limited client when to come back."""


def agent_name(body: object) -> str:
    """Which `AgentBehaviour` applies; tolerant of malformed bodies so rejected requests are counted too."""
    if not isinstance(body, Mapping):
        return DEFAULT_AGENT
    choice, tools = body.get("tool_choice"), body.get("tools")
    forced = choice.get("name") if isinstance(choice, Mapping) else None
    first = tools[0].get("name") if isinstance(tools, list) and tools and isinstance(tools[0], Mapping) else None
    return next((name for name in (forced, first) if isinstance(name, str)), DEFAULT_AGENT)


def estimate_tokens(chars: int) -> int:
    """Roughly four characters per token, the usual rule of thumb for English prose and JSON."""
    return max(1, math.ceil(chars / 4))


def _new_id(prefix: str) -> str:
    return prefix + "01" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


# --- request validation: pydantic-style messages, like the real API's `field.path: problem` ---


def _to_blocks(value: object) -> object:
    return as_blocks(value) if isinstance(value, str) else value


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: StrictStr

    @model_validator(mode="after")
    def _text_present(self) -> _Block:
        if self.type == "text" and not (isinstance(text := getattr(self, "text", None), str) and text):
            raise ValueError("text content blocks must be non-empty")
        return self


class _SystemBlock(_Block):
    type: Literal["text"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: Annotated[list[_Block], BeforeValidator(_to_blocks)]


class _Tool(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    type: StrictStr = "custom"
    input_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _custom_has_schema(self) -> _Tool:
        if self.type == "custom" and (self.input_schema or {}).get("type") != "object":
            raise ValueError("input_schema: a JSON schema with type 'object' is required for custom tools")
        return self


class _ToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["auto", "any", "tool", "none"]
    name: StrictStr | None = None
    disable_parallel_tool_use: StrictBool | None = None


class _PromptRequest(BaseModel):
    """What count_tokens and messages share: everything that makes up the prompt."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr = Field(min_length=1)
    messages: list[_Message] = Field(min_length=1)
    system: Annotated[list[_SystemBlock], BeforeValidator(_to_blocks)] = Field(default_factory=list)
    tools: list[_Tool] = Field(default_factory=list)
    tool_choice: _ToolChoice | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _PromptRequest:
        names = [tool.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise ValueError("tools: Tool names must be unique.")
        choice = self.tool_choice
        if choice is not None and choice.type in ("any", "tool") and not names:
            raise ValueError("tool_choice: tool_choice may only be specified while providing tools.")
        if choice is not None and choice.type == "tool" and choice.name is None:
            raise ValueError("tool_choice.name: Field required")
        if choice is not None and choice.type == "tool" and choice.name not in names:
            raise ValueError(f"tool_choice.name: Tool '{choice.name}' not found in the provided tools.")
        for position, message in enumerate(self.messages):
            final_assistant = position == len(self.messages) - 1 and message.role == "assistant"
            if not message.content and not final_assistant:
                raise ValueError(
                    f"messages.{position}: all messages must have non-empty content "
                    "except for the optional final assistant message"
                )
        last = self.messages[-1]
        prefill = getattr(last.content[-1], "text", "") if last.role == "assistant" and last.content else ""
        if prefill != prefill.rstrip():
            raise ValueError("messages: final assistant content cannot end with trailing whitespace")
        return self

    def called_tool(self) -> _Tool | None:
        """The forced tool, else the first custom tool: a stand-in has no judgement to pick otherwise."""
        if self.tool_choice is not None and self.tool_choice.type == "none":
            return None
        custom = [tool for tool in self.tools if tool.type == "custom"]
        forced = self.tool_choice.name if self.tool_choice is not None else None
        return next((tool for tool in custom if tool.name == forced), custom[0] if custom else None)


class _OutputConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: dict[str, Any] | None = None


class _MessagesRequest(_PromptRequest):
    max_tokens: StrictInt = Field(ge=1)
    stream: StrictBool = False
    output_config: _OutputConfig | None = None

    def output_schema(self) -> dict[str, Any] | None:
        """Structured-output requests (`messages.parse`) must get JSON text that fits their schema."""
        fmt = self.output_config.format if self.output_config is not None else None
        return fmt.get("schema") if fmt is not None and fmt.get("type") == "json_schema" else None


_RequestT = TypeVar("_RequestT", bound=_PromptRequest)


class _ApiError(Exception):
    def __init__(self, status: int, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    problem = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
    return f"{path}: {problem}" if path else problem


def _validated(model: type[_RequestT], body: object) -> tuple[_RequestT, Mapping[str, Any]]:
    """The parsed request for decisions, and the raw body (now known to be well-formed) for content."""
    if not isinstance(body, Mapping):
        raise _ApiError(400, "The request body must be a JSON object.")
    try:
        return model.model_validate(body), body
    except ValidationError as error:
        raise _ApiError(400, _describe(error)) from None


# --- prompt caching and usage ---


class _Segment(NamedTuple):
    identity: str
    chars: int
    breakpoint: bool


class _InputUsage(NamedTuple):
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


def _segments(body: Mapping[str, Any]) -> list[_Segment]:
    """The prompt in the order the API caches it (tools, system, messages), one entry per block."""

    def segment(part: Mapping[str, Any], chars: int) -> _Segment:
        identity = json.dumps({k: v for k, v in part.items() if k != "cache_control"}, sort_keys=True)
        return _Segment(identity, chars, bool(part.get("cache_control")))

    segments = [segment(tool, len(json.dumps(tool))) for tool in body.get("tools", [])]
    segments += [segment(block, len(block_text(block))) for block in as_blocks(body.get("system", []))]
    for message in body["messages"]:
        segments += [segment(block, len(block_text(block))) for block in as_blocks(message["content"])]
    if body.get("cache_control") and segments:
        segments[-1] = segments[-1]._replace(breakpoint=True)
    return segments


class _PromptCache:
    """Bounded memory of cached prefixes, so a repeated prefix is billed as a cache read like the real API."""

    def __init__(self) -> None:
        self._prefixes: OrderedDict[str, None] = OrderedDict()

    def usage(self, segments: Sequence[_Segment]) -> _InputUsage:
        digest = hashlib.sha256()
        chars = 0
        breakpoints: list[tuple[str, int]] = []
        for part in segments:
            digest.update(part.identity.encode() + b"\x00")
            chars += part.chars
            if part.breakpoint:
                breakpoints.append((digest.hexdigest(), chars))
        total = estimate_tokens(chars)
        if not breakpoints:
            return _InputUsage(total, 0, 0)
        hit_chars = max((c for key, c in breakpoints if key in self._prefixes), default=0)
        read = math.ceil(hit_chars / 4)
        created = math.ceil(breakpoints[-1][1] / 4) - read
        for key, _ in breakpoints:
            self._prefixes[key] = None
            self._prefixes.move_to_end(key)
        while len(self._prefixes) > _CACHE_CAPACITY:
            self._prefixes.popitem(last=False)
        return _InputUsage(max(1, total - read - created), created, read)


# --- scripted behaviour ---


@dataclass
class _AgentRuntime:
    """Consumable state derived from an `AgentBehaviour`; rebuilt whenever the behaviour is replaced."""

    behaviour: AgentBehaviour
    rng: random.Random
    pending_failures: deque[int]
    invalid_left: int

    @classmethod
    def start(cls, behaviour: AgentBehaviour, seed: int, agent: str) -> _AgentRuntime:
        rng = random.Random(f"{seed}:{agent}")
        return cls(behaviour, rng, deque(behaviour.failures), behaviour.invalid_output_times)

    def next_failure(self) -> int | None:
        if self.behaviour.fail_always is not None:
            return self.behaviour.fail_always
        if self.pending_failures:
            return self.pending_failures.popleft()
        if self.behaviour.failure_rate and self.rng.random() < self.behaviour.failure_rate:
            return self.behaviour.random_failure_status
        return None

    def take_invalid(self) -> bool:
        if self.invalid_left <= 0:
            return False
        self.invalid_left -= 1
        return True


@dataclass
class _State:
    initial: StandinConfig
    config: StandinConfig = field(init=False)
    runtimes: dict[str, _AgentRuntime] = field(init=False)
    statuses: defaultdict[str, list[int]] = field(init=False)
    cache: _PromptCache = field(init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.config = self.initial.model_copy(deep=True)
        self.runtimes = {}
        self.statuses = defaultdict(list)
        self.cache = _PromptCache()

    def runtime(self, agent: str) -> _AgentRuntime:
        if agent not in self.runtimes:
            self.runtimes[agent] = _AgentRuntime.start(self.config.behaviour_for(agent), self.config.seed, agent)
        return self.runtimes[agent]

    def replace_behaviour(self, agent: str, behaviour: AgentBehaviour) -> None:
        self.config.agents[agent] = behaviour
        self.runtimes.pop(agent, None)


# --- replies ---


@dataclass(frozen=True)
class _Reply:
    """One content block, plus the exact text that is streamed to build it."""

    block: dict[str, Any]
    payload: str
    stop_reason: str

    @property
    def output_tokens(self) -> int:
        return estimate_tokens(len(self.payload))

    def start_block(self) -> dict[str, Any]:
        return {**self.block, "input": {}} if self.block["type"] == "tool_use" else {"type": "text", "text": ""}

    def delta(self, chunk: str) -> dict[str, Any]:
        if self.block["type"] == "tool_use":
            return {"type": "input_json_delta", "partial_json": chunk}
        return {"type": "text_delta", "text": chunk}


def _explanation(utterances: Sequence[Utterance]) -> str:
    speakers = ", ".join(dict.fromkeys(u.speaker for u in utterances)) or "nobody"
    return (
        "[simulated] This is simulated output from the dealgraph LLM stand-in; no language model was called "
        f"and nothing here is real analysis. The prompt carried {len(utterances)} transcript lines "
        f"(speakers: {speakers})."
    )


def _cut(payload: str, max_tokens: int, natural_stop: str) -> tuple[str, str]:
    """Truncate at `max_tokens` the way a real model runs out of budget mid-output."""
    limit = max_tokens * 4
    return (payload[:limit], "max_tokens") if len(payload) > limit else (payload, natural_stop)


def _reply(request: _MessagesRequest, utterances: Sequence[Utterance], runtime: _AgentRuntime) -> _Reply:
    tool = request.called_tool()
    if tool is None:
        output_schema = request.output_schema()
        text = (
            _explanation(utterances)
            if output_schema is None
            else json.dumps(synthesize(output_schema, utterances, name=DEFAULT_AGENT))
        )
        text, stop_reason = _cut(text, request.max_tokens, "end_turn")
        return _Reply({"type": "text", "text": text}, text, stop_reason)
    schema = tool.input_schema or {"type": "object"}
    value = synthesize(schema, utterances, name=tool.name)
    if runtime.take_invalid():
        value = drop_required(value, schema)
    payload, stop_reason = _cut(json.dumps(value), request.max_tokens, "tool_use")
    partial_input = jiter.from_json(payload.encode(), partial_mode=True)
    block = {"type": "tool_use", "id": _new_id("toolu_"), "name": tool.name, "input": partial_input}
    return _Reply(block, payload, stop_reason)


def _message(model: str, reply: _Reply, usage: _InputUsage, *, started: bool) -> dict[str, Any]:
    """The Message object; `started` is its message_start form: no content, no stop reason yet."""
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if started else [reply.block],
        "stop_reason": None if started else reply.stop_reason,
        "stop_sequence": None,
        "usage": {**usage._asdict(), "output_tokens": 1 if started else reply.output_tokens},
    }


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


async def _sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


def _chunks(payload: str) -> list[str]:
    """Uneven 16-48 character pieces, like real deltas, seeded by the payload so streams are reproducible."""
    rng = random.Random(payload)
    chunks: list[str] = []
    offset = 0
    while offset < len(payload):
        size = rng.randint(16, 48)
        chunks.append(payload[offset : offset + size])
        offset += size
    return chunks


async def _events(message: dict[str, Any], reply: _Reply, started: float, latency_s: float) -> AsyncIterator[bytes]:
    """The real event sequence, with deltas spread evenly so the whole stream takes `latency_s`."""
    chunks = _chunks(reply.payload)
    step = latency_s / (len(chunks) + 1)
    yield _sse({"type": "message_start", "message": message})
    yield _sse({"type": "ping"})
    yield _sse({"type": "content_block_start", "index": 0, "content_block": reply.start_block()})
    for position, chunk in enumerate(chunks, start=1):
        await _sleep_until(started + position * step)
        yield _sse({"type": "content_block_delta", "index": 0, "delta": reply.delta(chunk)})
    yield _sse({"type": "content_block_stop", "index": 0})
    await _sleep_until(started + latency_s)
    delta = {"stop_reason": reply.stop_reason, "stop_sequence": None}
    yield _sse({"type": "message_delta", "delta": delta, "usage": {"output_tokens": reply.output_tokens}})
    yield _sse({"type": "message_stop"})


# --- HTTP ---


class _ProtocolHeaders:
    """Stamps every response with a request id and the simulated marker, errors and streams included."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = _new_id("req_")
        scope.setdefault("state", {})["request_id"] = request_id

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"request-id", request_id.encode()), (SIMULATED_HEADER.encode(), b"true")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self._app(scope, receive, stamped)


def _scripted_error(status: int, agent: str, behaviour: AgentBehaviour) -> _ApiError:
    retry_after = behaviour.retry_after_s if status in (429, 529) else None
    if status == 429 and retry_after is None:
        retry_after = _DEFAULT_RATE_LIMIT_RETRY_S
    message = f"Simulated {ERROR_TYPES[status]} for agent '{agent}', scripted in the dealgraph LLM stand-in."
    return _ApiError(status, message, retry_after)


def _error_response(request: Request, error: _ApiError) -> JSONResponse:
    request_id: str = request.state.request_id
    body = {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(error.status, "invalid_request_error"), "message": error.message},
        "request_id": request_id,
    }
    retryable = error.status in _RETRYABLE or error.status >= 500
    headers = {"x-should-retry": "true" if retryable else "false"}
    if error.retry_after_s is not None:
        headers["retry-after"] = str(math.ceil(error.retry_after_s))
        headers["retry-after-ms"] = str(round(error.retry_after_s * 1000))
    return JSONResponse(body, status_code=error.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer in the API's error shape, not Starlette's plain text."""
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    return _error_response(request, _ApiError(exc.status_code, exc.detail))


async def _json_body(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


class _Api:
    def __init__(self, state: _State) -> None:
        self._state = state

    def _check_key(self, request: Request) -> None:
        """The SDK sends the key as `Authorization: Bearer …`; raw clients use `x-api-key`. Accept both."""
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self._state.config.require_api_key and not (request.headers.get("x-api-key") or bearer):
            raise _ApiError(401, "x-api-key header is required")

    async def messages(self, request: Request) -> Response:
        started = time.monotonic()
        body = await _json_body(request)
        agent = agent_name(body)
        try:
            response = await self._answer(request, body, agent, started)
        except _ApiError as error:
            response = _error_response(request, error)
        self._state.statuses[agent].append(response.status_code)
        return response

    async def _answer(self, request: Request, body: object, agent: str, started: float) -> Response:
        self._check_key(request)
        parsed, prompt = _validated(_MessagesRequest, body)
        runtime = self._state.runtime(agent)
        failure = runtime.next_failure()
        if failure is not None:
            raise _scripted_error(failure, agent, runtime.behaviour)
        usage = self._state.cache.usage(_segments(prompt))
        reply = _reply(parsed, transcript_of(prompt), runtime)
        latency = runtime.behaviour.latency_s
        if parsed.stream:
            start = _message(parsed.model, reply, usage, started=True)
            headers = {"cache-control": "no-cache"}
            events = _events(start, reply, started, latency)
            return StreamingResponse(events, media_type="text/event-stream; charset=utf-8", headers=headers)
        await _sleep_until(started + latency)
        return JSONResponse(_message(parsed.model, reply, usage, started=False))

    async def count_tokens(self, request: Request) -> Response:
        try:
            self._check_key(request)
            _, prompt = _validated(_PromptRequest, await _json_body(request))
        except _ApiError as error:
            return _error_response(request, error)
        return JSONResponse({"input_tokens": estimate_tokens(sum(s.chars for s in _segments(prompt)))})

    async def put_agent(self, request: Request) -> Response:
        try:
            behaviour = AgentBehaviour.model_validate(await _json_body(request))
        except ValidationError as error:
            return _error_response(request, _ApiError(400, _describe(error)))
        self._state.replace_behaviour(request.path_params["name"], behaviour)
        return JSONResponse(behaviour.model_dump())

    async def reset(self, request: Request) -> Response:
        self._state.reset()
        return JSONResponse({"reset": True})

    async def stats(self, request: Request) -> Response:
        agents = {
            agent: {"requests": len(statuses), "statuses": statuses} for agent, statuses in self._state.statuses.items()
        }
        return JSONResponse({"agents": agents})


def create_standin_app(config: StandinConfig) -> Starlette:
    """One app owns its counters and cache, so parallel test servers never share scripted state."""
    api = _Api(_State(config.model_copy(deep=True)))
    routes = [
        Route("/v1/messages", api.messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", api.count_tokens, methods=["POST"]),
        Route("/_standin/agents/{name}", api.put_agent, methods=["PUT"]),
        Route("/_standin/reset", api.reset, methods=["POST"]),
        Route("/_standin/stats", api.stats, methods=["GET"]),
    ]
    return Starlette(
        routes=routes, middleware=[Middleware(_ProtocolHeaders)], exception_handlers={HTTPException: _http_error}
    )
