"""The model-dependent rules of the Messages API, enforced as the real API enforces them.

Every rule cites the page it comes from; `tests/test_standin_rules.py` has a test per rule. The values
(which model thinks, what it accepts, its limits) come from `dealgraph.claude.models`, the same
table the client builds its requests from, so the two cannot drift apart silently: a client that sends
what the table forbids fails here exactly as it would against Claude.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

from dealgraph.claude.models import MODELS, ModelCapabilities, UnknownModel, capabilities
from dealgraph.standin.errors import ApiError
from dealgraph.standin.output_schema import schema_problems
from dealgraph.standin.requests import ContentBlock, MessagesRequest, PromptRequest, Tool

MAX_CACHE_BREAKPOINTS = 4
_SIGNING_KEY = b"dealgraph-standin-thinking"
_CLAUDE_MODEL_ID = re.compile(r"claude-[a-z0-9]+(?:-[a-z0-9]+)*(?:@[0-9]+)?")
"""What a Claude model id looks like (https://platform.claude.com/docs/en/about-claude/models/overview)."""


def model_of(request: PromptRequest) -> ModelCapabilities:
    """Unknown models are a 404 not_found_error whose message names the field
    (https://platform.claude.com/docs/en/api/errors: 404 not_found_error). A Claude model id that is simply
    not in dealgraph's capability table may well exist: the 404 says dealgraph does not support it yet."""
    try:
        return capabilities(request.model)
    except UnknownModel:
        if _CLAUDE_MODEL_ID.fullmatch(request.model):
            raise ApiError(
                404,
                f"model: {request.model} is not supported by dealgraph yet (its LLM stand-in knows the rules of "
                f"{', '.join(sorted(MODELS))}); add it to dealgraph/claude/models.py",
            ) from None
        raise ApiError(404, f"model: {request.model}") from None


def thinks(request: PromptRequest, caps: ModelCapabilities) -> bool:
    """Adaptive thinking is on when `thinking` is omitted on models that think by default
    (https://platform.claude.com/docs/en/models/sonnet-5-5/migration-guide, "Thinking is on by default")."""
    if request.thinking is None:
        return caps.thinks_by_default
    return request.thinking.type in ("adaptive", "enabled")


def conversation_digest(request: PromptRequest, turns: int) -> str:
    """The conversation a thinking block answered: the system prompt and the first `turns` messages, their
    cache_control aside (marking a block for caching does not change what was said)."""
    said: list[Any] = [[block.model_dump(mode="json", exclude={"cache_control"}) for block in request.system]]
    said += [
        [message.role, [block.model_dump(mode="json", exclude={"cache_control"}) for block in message.content]]
        for message in request.messages[:turns]
    ]
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()


def thinking_signature(model: str, conversation: str, thinking: str) -> str:
    """Thinking blocks are tied to the model and conversation that produced them
    (https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5): the stand-in signs them so a
    modified, foreign or transplanted block is caught like the API catches it."""
    return hmac.new(_SIGNING_KEY, f"{model}\n{conversation}\n{thinking}".encode(), hashlib.sha256).hexdigest()


def check_context_window(prompt_tokens: int, caps: ModelCapabilities) -> None:
    """A prompt over the model's context window is a 400 before anything is generated
    (https://platform.claude.com/docs/en/build-with-claude/context-windows), worded as the API words it
    ("prompt is too long: N tokens > M maximum"; the docs do not quote the message). Output that would not
    fit is not an error: the response stops with `model_context_window_exceeded`."""
    if prompt_tokens > caps.context_window:
        raise ApiError(400, f"prompt is too long: {prompt_tokens} tokens > {caps.context_window} maximum")


def enforce(request: PromptRequest) -> ModelCapabilities:
    """Raise the API's error for the first rule the request breaks; return the model's capabilities."""
    caps = model_of(request)
    for problem in _problems(request, caps):
        raise ApiError(400, problem)
    return caps


def _problems(request: PromptRequest, caps: ModelCapabilities) -> Iterator[str]:
    yield from _thinking_problems(request, caps)
    # Forced tool use returns an error on a thinking request (https://platform.claude.com/docs/en/build-with-claude/thinking, tool use;
    # https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5, "Forced tool use returns an error").
    if (
        request.tool_choice is not None
        and request.tool_choice.forced
        and (not caps.forced_tool_choice or thinks(request, caps))
    ):
        yield (
            f"tool_choice: forced tool use (type '{request.tool_choice.type}') is not supported "
            f"{'by this model' if not caps.forced_tool_choice else 'when thinking is enabled'}; "
            "use tool_choice 'auto' or structured outputs (output_config.format)"
        )
    # JSON outputs only on models that support structured outputs
    # (https://platform.claude.com/docs/en/build-with-claude/structured-outputs).
    schema = request.output_schema()
    if schema is not None and not caps.structured_outputs:
        yield f"output_config.format: structured outputs are not supported for {caps.model}"
    elif schema is not None:  # only the documented subset of JSON Schema (see `output_schema`)
        yield from schema_problems(schema)
    # Assistant prefill returns an error (https://platform.claude.com/docs/en/models/sonnet-5-5/migration-guide; haiku-5-5/whats-new).
    if request.messages[-1].role == "assistant" and not caps.assistant_prefill:
        yield (
            f"messages: assistant message prefill is not supported for {caps.model}; "
            "the final message must have role 'user'"
        )
    # At most 4 cache breakpoints (https://platform.claude.com/docs/en/build-with-claude/prompt-caching); the API's own wording.
    breakpoints = _cache_breakpoints(request)
    if breakpoints > MAX_CACHE_BREAKPOINTS:
        yield f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}."
    yield from _signature_problems(request)
    yield from _blank_text_problems(request)
    yield from _cache_control_problems(request)
    if isinstance(request, MessagesRequest):
        yield from _generation_problems(request, caps)


def _thinking_problems(request: PromptRequest, caps: ModelCapabilities) -> Iterator[str]:
    """Accepted thinking types per model and their effort limits: https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5
    (between_tools only at low/medium/high; disabled is a 400 pointing to between_tools),
    https://platform.claude.com/docs/en/models/opus-5-5/whats-new-opus-5-5 (thinking can't be disabled, budgets refused, exact wording),
    https://platform.claude.com/docs/en/build-with-claude/prompt-engineering/prompting-claude-haiku-5-5 (disabled below xhigh only)."""
    thinking = request.thinking
    if thinking is None:
        return
    if thinking.type not in caps.thinking_types:
        alternative = "between_tools" if "between_tools" in caps.thinking_types else "adaptive"
        yield (
            f'"thinking.type.{thinking.type}" is not supported for this model. Use "thinking.type.{alternative}" '
            'and "output_config.effort" to control thinking behavior.'
        )
    elif thinking.type in caps.thinking_types_below_xhigh and request.effort in ("xhigh", "max"):
        yield (
            f'thinking.type: "{thinking.type}" is only available at effort low, medium or high; '
            f'use "adaptive" thinking at effort "{request.effort}"'
        )
    elif thinking.type == "enabled" and thinking.budget_tokens is None:
        yield "thinking.enabled.budget_tokens: Field required"
    # `display` is a field of the adaptive and enabled types only (SDK ThinkingConfig*Param; https://platform.claude.com/docs/en/build-with-claude/thinking).
    if thinking.display is not None and thinking.type not in ("adaptive", "enabled"):
        yield f"thinking.{thinking.type}.display: Extra inputs are not permitted"


def _generation_problems(request: MessagesRequest, caps: ModelCapabilities) -> Iterator[str]:
    # max_tokens above the model's output limit: the API's own wording (https://platform.claude.com/docs/en/models/overview, max output).
    if request.max_tokens > caps.max_output_tokens:
        yield (
            f"max_tokens: {request.max_tokens} > {caps.max_output_tokens}, which is the maximum allowed number "
            f"of output tokens for {caps.model}"
        )
    # Sampling parameters at non-default values return an error (https://platform.claude.com/docs/en/models/sonnet-5-5/migration-guide;
    # haiku-5-5/whats-new-haiku-5-5: "omit temperature, top_p and top_k").
    if not caps.sampling_parameters:
        for name in ("temperature", "top_p", "top_k"):
            value = getattr(request, name)
            if value is not None and not (name == "temperature" and value == 1.0):
                yield f"{name}: sampling parameters are not supported for {caps.model}; omit {name}"
    # Pre-warming with max_tokens 0 is refused together with streaming, JSON outputs, forced tools or a
    # thinking budget (https://platform.claude.com/docs/en/build-with-claude/prompt-caching, pre-warming).
    if request.max_tokens == 0:
        conflicts = [
            name
            for name, present in (
                ("stream", request.stream),
                ("output_config.format", request.output_schema() is not None),
                ("tool_choice", request.tool_choice is not None and request.tool_choice.forced),
                ("thinking.type.enabled", request.thinking is not None and request.thinking.type == "enabled"),
            )
            if present
        ]
        if conflicts:
            yield f"max_tokens: 0 (cache pre-warming) cannot be combined with {', '.join(conflicts)}"


def _blank_text_problems(request: PromptRequest) -> Iterator[str]:
    """Text blocks must hold text: an empty one and a whitespace-only one are each a 400 with the API's own
    wording (https://platform.claude.com/docs/en/api/errors, common validation errors)."""
    located: list[tuple[str, ContentBlock]] = [("system", block) for block in request.system]
    located += [("messages", block) for message in request.messages for block in message.content]
    for where, block in located:
        text = getattr(block, "text", None)
        if block.type != "text" or not isinstance(text, str) or text.strip():
            continue
        yield f"{where}: text content blocks must {'be non-empty' if not text else 'contain non-whitespace text'}"


def _cache_control_problems(request: PromptRequest) -> Iterator[str]:
    """Thinking blocks cannot be marked with cache_control (they are cached as part of their turn), and a
    longer TTL must come before a shorter one ("a 1-hour cache entry must appear before any 5-minute cache
    entries"), both https://platform.claude.com/docs/en/build-with-claude/prompt-caching. The exact wording
    of either 400 is not documented."""
    for m, message in enumerate(request.messages):
        for b, block in enumerate(message.content):
            if block.type in ("thinking", "redacted_thinking") and block.cache_control is not None:
                yield f"messages.{m}.content.{b}: cache_control cannot be set on {block.type} blocks"
    controls = [part.cache_control for part in _cacheable(request)] + [request.cache_control]
    ttls = [control.ttl for control in controls if control is not None]
    if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
        yield (
            "cache_control: a cache breakpoint with ttl '1h' cannot come after one with ttl '5m'; "
            "longer TTLs must come first (tools, then system, then messages)"
        )


def _cacheable(request: PromptRequest) -> list[Tool | ContentBlock]:
    """Every block that can carry cache_control, in the order the prompt is cached."""
    return [*request.tools, *request.system, *(block for message in request.messages for block in message.content)]


def _cache_breakpoints(request: PromptRequest) -> int:
    blocks = _cacheable(request)
    return sum(block.cache_control is not None for block in blocks) + (request.cache_control is not None)


def _signature_problems(request: PromptRequest) -> Iterator[str]:
    """Thinking blocks must come back unchanged, to the model that wrote them (https://platform.claude.com/docs/en/build-with-claude/thinking,
    "pass thinking blocks back unchanged"; haiku-5-5/whats-new: modifying earlier turns invalidates them)."""
    for m, message in enumerate(request.messages):
        if message.role != "assistant":
            continue
        for b, block in enumerate(message.content):
            if block.type != "thinking":
                continue
            thinking, signature = getattr(block, "thinking", None), getattr(block, "signature", None)
            conversation = conversation_digest(request, m)
            expected = thinking_signature(request.model, conversation, thinking) if isinstance(thinking, str) else None
            if not isinstance(signature, str) or expected is None or not hmac.compare_digest(signature, expected):
                yield f"messages.{m}.content.{b}: Invalid `signature` in `thinking` block"
