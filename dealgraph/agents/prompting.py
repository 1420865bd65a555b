"""What an agent sends to Claude.

Every agent's request starts with the same tools (all four agents' tools; `tool_choice` picks one)
and, with the built-in prompts, the same system blocks, the last of which holds the transcript with
`cache_control`. That identical prefix lets the agents of one analysis share one prompt-cache entry
for the transcript: the first call writes it, the others read it. The pinned prompt version's
rendered user template comes after, in the user turn. The transcript is shown preprocessed (fillers
removed) with each line's index, which is how evidence quotes map back to the original text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dealgraph.agents.registry import AGENTS, AgentDefinition
from dealgraph.agents.templates import RenderedTemplates
from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.preprocess import render_for_prompt


@dataclass(frozen=True, slots=True)
class TranscriptForPrompt:
    title: str
    occurred_at: datetime
    utterances: tuple[Utterance, ...]


@dataclass(frozen=True, slots=True)
class AgentRequest:
    tool_name: str
    model: str
    max_tokens: int
    system: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]]


def transcript_block(transcript: TranscriptForPrompt) -> str:
    return (
        f'<transcript title="{transcript.title}" date="{transcript.occurred_at:%Y-%m-%d}">\n'
        f"{render_for_prompt(transcript.utterances)}\n</transcript>"
    )


def build_request(
    agent: AgentDefinition, transcript: TranscriptForPrompt, prompt: RenderedTemplates, *, model: str, max_tokens: int
) -> AgentRequest:
    return AgentRequest(
        tool_name=agent.kind.value,
        model=model,
        max_tokens=max_tokens,
        system=[
            {"type": "text", "text": prompt.system},
            {"type": "text", "text": transcript_block(transcript), "cache_control": {"type": "ephemeral"}},
        ],
        tools=[definition.tool for definition in AGENTS.values()],
        messages=[{"role": "user", "content": prompt.user}],
    )


def retry_messages(request: AgentRequest, tool_use_id: str, tool_input: object, problems: Sequence[str]) -> list[dict[str, Any]]:
    """The conversation for the one retry after invalid output: the model sees its call and what was wrong."""
    listing = "\n".join(f"- {problem}" for problem in problems)
    return [
        *request.messages,
        {"role": "assistant", "content": [{"type": "tool_use", "id": tool_use_id, "name": request.tool_name, "input": tool_input}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use_id,
                    "is_error": True,
                    "content": f"The input does not match the tool's schema:\n{listing}\n"
                    f"Call `{request.tool_name}` again with the complete, corrected input.",
                }
            ],
        },
    ]
