"""What the stand-in answers: one synthesized content block, wrapped in the Messages API's Message object."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jiter

from dealgraph.agents.standin.behaviour import AgentRuntime
from dealgraph.agents.standin.config import DEFAULT_AGENT
from dealgraph.agents.standin.ids import new_id
from dealgraph.agents.standin.requests import MessagesRequest
from dealgraph.agents.standin.synth import drop_required, synthesize
from dealgraph.agents.standin.transcript import Utterance
from dealgraph.agents.standin.usage import CHARS_PER_TOKEN, InputUsage, estimate_tokens


@dataclass(frozen=True)
class Reply:
    """One content block, plus the exact text that is streamed to build it."""

    block: dict[str, Any]
    payload: str
    stop_reason: str

    @property
    def output_tokens(self) -> int:
        return estimate_tokens(len(self.payload))

    def start_block(self) -> dict[str, Any]:
        """The block as `content_block_start` announces it, before any delta has filled it in."""
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
    limit = max_tokens * CHARS_PER_TOKEN
    return (payload[:limit], "max_tokens") if len(payload) > limit else (payload, natural_stop)


def build_reply(request: MessagesRequest, utterances: Sequence[Utterance], runtime: AgentRuntime) -> Reply:
    """A tool call when a tool applies, else JSON for a structured-output schema, else a plain disclaimer."""
    tool = request.called_tool()
    if tool is None:
        output_schema = request.output_schema()
        text = (
            _explanation(utterances)
            if output_schema is None
            else json.dumps(synthesize(output_schema, utterances, name=DEFAULT_AGENT))
        )
        text, stop_reason = _cut(text, request.max_tokens, "end_turn")
        return Reply({"type": "text", "text": text}, text, stop_reason)
    schema = tool.input_schema or {"type": "object"}
    value = synthesize(schema, utterances, name=tool.name)
    if runtime.take_invalid():
        value = drop_required(value, schema)
    payload, stop_reason = _cut(json.dumps(value), request.max_tokens, "tool_use")
    partial_input = jiter.from_json(payload.encode(), partial_mode=True)
    block = {"type": "tool_use", "id": new_id("toolu_"), "name": tool.name, "input": partial_input}
    return Reply(block, payload, stop_reason)


def message_object(model: str, reply: Reply, usage: InputUsage, *, started: bool) -> dict[str, Any]:
    """The Message object; `started` is its message_start form: no content, no stop reason yet."""
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if started else [reply.block],
        "stop_reason": None if started else reply.stop_reason,
        "stop_sequence": None,
        "usage": {**usage._asdict(), "output_tokens": 1 if started else reply.output_tokens},
    }
