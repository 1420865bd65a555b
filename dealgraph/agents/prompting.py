"""What an agent sends to Claude.

Every agent's request starts with the same tools (all four agents' tools; `tool_choice` picks one)
and the same system blocks, the last of which holds the transcript with `cache_control`. That
identical prefix lets the agents of one analysis share one prompt-cache entry for the transcript:
the first call writes it, the others read it. Agent-specific instructions come after, in the user
turn. The transcript is shown preprocessed (fillers removed) with each line's index, which is how
evidence quotes map back to the original text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dealgraph.agents.registry import AGENTS, SYSTEM_PROMPT, AgentDefinition
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
    system: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]]


def transcript_block(transcript: TranscriptForPrompt) -> str:
    return (
        f'<transcript title="{transcript.title}" date="{transcript.occurred_at:%Y-%m-%d}">\n'
        f"{render_for_prompt(transcript.utterances)}\n</transcript>"
    )


def build_request(agent: AgentDefinition, transcript: TranscriptForPrompt) -> AgentRequest:
    return AgentRequest(
        tool_name=agent.kind.value,
        system=[
            {"type": "text", "text": SYSTEM_PROMPT},
            {"type": "text", "text": transcript_block(transcript), "cache_control": {"type": "ephemeral"}},
        ],
        tools=[definition.tool for definition in AGENTS.values()],
        messages=[
            {
                "role": "user",
                "content": f"{agent.instructions}\n\nAnswer by calling the `{agent.kind.value}` tool exactly once.",
            }
        ],
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
