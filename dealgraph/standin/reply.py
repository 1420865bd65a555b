"""What the stand-in answers: content blocks wrapped in the Messages API's Message object.

A thinking request's answer starts with a thinking block (empty text under the default `display:
"omitted"`, always signed), as on the real models
(https://platform.claude.com/docs/en/models/opus-5-5/whats-new-opus-5-5: select blocks by type).
Usage follows the API: thinking is billed as output and broken out in `output_tokens_details`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jiter

from dealgraph.claude.tokens import CHARS_PER_TOKEN, estimate_tokens
from dealgraph.standin.behaviour import AgentRuntime
from dealgraph.standin.config import DEFAULT_AGENT
from dealgraph.standin.ids import new_id
from dealgraph.standin.requests import MessagesRequest, answer_key
from dealgraph.standin.rules import conversation_digest, thinking_signature
from dealgraph.standin.synth import (
    SIMULATED_PREFIX,
    drop_required,
    property_schema,
    synthesize,
    synthesize_property,
)
from dealgraph.standin.transcript import Utterance
from dealgraph.standin.usage import InputUsage


@dataclass(frozen=True)
class Block:
    """One content block, plus the exact text that is streamed to build it."""

    block: dict[str, Any]
    payload: str

    def start(self) -> dict[str, Any]:
        """The block as `content_block_start` announces it, before any delta has filled it in."""
        match self.block["type"]:
            case "tool_use":
                return {**self.block, "input": {}}
            case "thinking":
                return {"type": "thinking", "thinking": "", "signature": ""}
            case _:
                return {"type": "text", "text": ""}

    def deltas(self, chunk: str) -> dict[str, Any]:
        match self.block["type"]:
            case "tool_use":
                return {"type": "input_json_delta", "partial_json": chunk}
            case "thinking":
                return {"type": "thinking_delta", "thinking": chunk}
            case _:
                return {"type": "text_delta", "text": chunk}


_REFUSAL = {
    "type": "refusal",
    "category": "general_harms",
    "explanation": "Simulated refusal, scripted in the dealgraph LLM stand-in.",
}
"""`stop_details` of a refusal (https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons, refusal)."""
_STOP_SEQUENCE = "\n\nEND"
"""Which of the request's `stop_sequences` a scripted stop_sequence stop names."""


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...]
    stop_reason: str
    thinking_tokens: int
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None

    def stop(self) -> dict[str, Any]:
        """The message's stop fields, as message_delta and the final Message carry them."""
        return {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence, "stop_details": self.stop_details}

    @property
    def output_tokens(self) -> int:
        answer = "".join(block.payload for block in self.blocks if block.block["type"] != "thinking")
        return self.thinking_tokens + (estimate_tokens(len(answer)) if answer else 0)

    def usage(self) -> dict[str, Any]:
        return {"output_tokens": self.output_tokens, "output_tokens_details": {"thinking_tokens": self.thinking_tokens}}


def _explanation(utterances: Sequence[Utterance]) -> str:
    speakers = ", ".join(dict.fromkeys(u.speaker for u in utterances)) or "nobody"
    return (
        f"{SIMULATED_PREFIX}This is simulated output from the dealgraph LLM stand-in; no language model was called "
        f"and nothing here is real analysis. The prompt carried {len(utterances)} transcript lines "
        f"(speakers: {speakers})."
    )


def _cut(payload: str, max_tokens: int, natural_stop: str) -> tuple[str, str]:
    """Truncate at `max_tokens` the way a real model runs out of budget mid-output."""
    limit = int(max_tokens * CHARS_PER_TOKEN)
    return (payload[:limit], "max_tokens") if len(payload) > limit else (payload, natural_stop)


def _thinking(request: MessagesRequest, utterances: Sequence[Utterance]) -> Block:
    summarized = request.thinking is not None and request.thinking.display == "summarized"
    text = f"{SIMULATED_PREFIX}Reading {len(utterances)} transcript lines." if summarized else ""
    signature = thinking_signature(request.model, conversation_digest(request, len(request.messages)), text)
    return Block({"type": "thinking", "thinking": text, "signature": signature}, text)


def _structured(
    body: Mapping[str, Any], schema: dict[str, Any], utterances: Sequence[Utterance], runtime: AgentRuntime
) -> Any:
    """JSON in the requested schema; for a schema several agents share, only the key the instructions name
    is filled (as a model following them would) and every other key is null."""
    key = answer_key(body, schema)
    if key is None:
        value = synthesize(schema, utterances, name=str(schema.get("title") or DEFAULT_AGENT))
        return drop_required(value, schema) if runtime.take_invalid() else value
    answer = synthesize_property(schema, key, utterances)
    if runtime.take_invalid():
        answer = drop_required(answer, property_schema(schema, key))
    return {name: answer if name == key else None for name in schema["properties"]}


def _answer(
    request: MessagesRequest, body: Mapping[str, Any], utterances: Sequence[Utterance], runtime: AgentRuntime
) -> tuple[Block, str]:
    """A tool call when a tool applies, else JSON for a structured-output schema, else a plain disclaimer."""
    tool = request.called_tool()
    if tool is None:
        output_schema = request.output_schema()
        if output_schema is None:
            text = _explanation(utterances)
        else:
            text = json.dumps(_structured(body, output_schema, utterances, runtime))
        return Block({"type": "text", "text": text}, text), "end_turn"
    schema = tool.input_schema or {"type": "object"}
    value = synthesize(schema, utterances, name=tool.name)
    if runtime.take_invalid():
        value = drop_required(value, schema)
    payload = json.dumps(value)
    block = {"type": "tool_use", "id": new_id("toolu_"), "name": tool.name, "input": value}
    return Block(block, payload), "tool_use"


def build_reply(
    request: MessagesRequest,
    body: Mapping[str, Any],
    utterances: Sequence[Utterance],
    runtime: AgentRuntime,
    *,
    thinking: bool,
) -> Reply:
    """`body` is the request as sent (the parsed `request` decides; the raw body carries the instructions)."""
    if request.max_tokens == 0:  # a pre-warm: the prompt was processed (and cached), nothing generated
        return Reply((), "max_tokens", 0)
    scripted = runtime.next_stop()
    if scripted == "refusal":  # a pre-output refusal: no content at all
        return Reply((), "refusal", 0, stop_details=_REFUSAL)
    thought = (
        min(thinking_tokens(runtime.behaviour.thinking_tokens, request.effort), request.max_tokens) if thinking else 0
    )
    budget = max(0, request.max_tokens - thought)
    answer, natural_stop = _answer(request, body, utterances, runtime)
    payload, stop_reason = _cut(answer.payload, budget, natural_stop)
    if scripted is not None:
        payload, stop_reason = answer.payload[: len(answer.payload) // 2], scripted
    if answer.block["type"] == "tool_use":
        body = {**answer.block, "input": jiter.from_json(payload.encode(), partial_mode=True) if payload else {}}
    else:
        body = {"type": "text", "text": payload}
    blocks = ((_thinking(request, utterances),) if thinking else ()) + ((Block(body, payload),) if payload else ())
    return Reply(blocks, stop_reason, thought, _STOP_SEQUENCE if stop_reason == "stop_sequence" else None)


_EFFORT_THINKING = {"low": 0.25, "medium": 1.0, "high": 3.0, "xhigh": 6.0, "max": 10.0}
"""How much more a request thinks at each effort than at medium: higher effort spends more of `max_tokens`."""


def thinking_tokens(at_medium: int, effort: str | None) -> int:
    return round(at_medium * _EFFORT_THINKING[effort or "high"])


def message_object(
    model: str,
    reply: Reply,
    usage: InputUsage,
    *,
    started: bool,
    message_id: str,
    diagnostics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Message object; `started` is its message_start form: no content, no stop reason yet. `diagnostics`
    is null unless the request asked for them and its prompt diverged (the SDK's `Message.diagnostics`)."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if started else [block.block for block in reply.blocks],
        **({"stop_reason": None, "stop_sequence": None, "stop_details": None} if started else reply.stop()),
        "usage": {**usage.as_api(), **({"output_tokens": 1} if started else reply.usage())},
        "diagnostics": diagnostics,
    }
