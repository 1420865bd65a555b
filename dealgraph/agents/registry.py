"""The four agents: output model (the forced tool's input schema) and post-processing.

What each agent is told lives in prompt versions (see `dealgraph.agents.templates`); the shipped
instruction files are only the built-in defaults loaded into them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.resources import files
from typing import Any

from pydantic import BaseModel

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import (
    ActionItemsOutput,
    MeddpiccOutput,
    MeetingOutput,
    StakeholdersOutput,
    compute_talk_time,
)
from dealgraph.transcripts.formats import Utterance

Postprocess = Callable[[Any, Sequence[Utterance]], Any]


def instruction_text(name: str) -> str:
    return files("dealgraph.agents").joinpath("instructions", f"{name}.md").read_text(encoding="utf-8").strip()


def _unchanged(output: Any, utterances: Sequence[Utterance]) -> Any:
    return output


def _with_talk_time(output: MeetingOutput, utterances: Sequence[Utterance]) -> MeetingOutput:
    """Talk time is measured from the utterances, never asked of the model."""
    return output.model_copy(update={"talk_time": compute_talk_time(utterances)})


@dataclass(frozen=True)
class AgentDefinition:
    kind: AgentKind
    output_model: type[BaseModel]
    description: str
    postprocess: Postprocess = field(default=_unchanged)

    @cached_property
    def tool(self) -> dict[str, Any]:
        return {"name": self.kind.value, "description": self.description, "input_schema": self.output_model.model_json_schema()}


SYSTEM_PROMPT = instruction_text("system")

AGENTS: dict[AgentKind, AgentDefinition] = {
    definition.kind: definition
    for definition in (
        AgentDefinition(
            AgentKind.MEDDPICC,
            MeddpiccOutput,
            "Record the MEDDPICC qualification of the deal as evidenced in this call.",
        ),
        AgentDefinition(
            AgentKind.ACTION_ITEMS,
            ActionItemsOutput,
            "Record the action items participants committed to in this call.",
        ),
        AgentDefinition(
            AgentKind.STAKEHOLDERS,
            StakeholdersOutput,
            "Record the people involved in the deal and their role in the buying decision.",
        ),
        AgentDefinition(
            AgentKind.MEETING_INTELLIGENCE,
            MeetingOutput,
            "Record the meeting summary, topics, objections, competitors, risks, next steps and sentiment.",
            postprocess=_with_talk_time,
        ),
    )
}
