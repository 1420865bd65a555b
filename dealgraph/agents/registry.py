"""The four agents: output model (the JSON schema of their structured output) and post-processing.

What each agent is told lives in prompt versions (see `dealgraph.prompts.templates`); the shipped
instruction files are only the built-in defaults loaded into them, with the effort each agent needs
(chosen, and explained, in the file's front matter).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib.resources import files
from typing import Any

from pydantic import BaseModel, create_model

from dealgraph.agents.judge import PAIRWISE_JUDGE, judge_schema, judge_schema_source
from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import (
    ActionItemsOutput,
    MeddpiccOutput,
    MeetingOutput,
    StakeholdersOutput,
    compute_talk_time,
)
from dealgraph.agents.structured import answer_schema, answer_schema_source
from dealgraph.claude.models import EFFORTS, Effort
from dealgraph.transcripts.formats import Utterance

Postprocess = Callable[[Any, Sequence[Utterance]], Any]


_FRONT_MATTER = "---\n"


def _instruction_file(name: str) -> tuple[dict[str, str], str]:
    """(front matter, body): `key: value` lines between `---` fences, then the text Claude reads."""
    raw = files("dealgraph.agents").joinpath("instructions", f"{name}.md").read_text(encoding="utf-8")
    if not raw.startswith(_FRONT_MATTER):
        return {}, raw.strip()
    header, _, body = raw.removeprefix(_FRONT_MATTER).partition(_FRONT_MATTER)
    fields = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in fields.items()}, body.strip()


def instruction_text(name: str) -> str:
    return _instruction_file(name)[1]


def builtin_effort(name: str) -> Effort:
    """The effort the built-in version of this template (an agent, or the judge) runs at; an instruction
    file without one is a bug."""
    effort = _instruction_file(name)[0].get("effort")
    if effort not in EFFORTS:
        raise ValueError(f"instructions/{name}.md must declare 'effort: <{'|'.join(EFFORTS)}>'")
    return effort


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
    def shared_answer_model(self) -> type[BaseModel]:
        """This agent's answer inside the shared output schema: its own key, the other agents' keys ignored."""
        only_this_agent: dict[str, Any] = {self.kind.value: (self.output_model, ...)}
        return create_model(f"{self.output_model.__name__}Shared", **only_this_agent)

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        """The output model as structured outputs take it (`dealgraph.agents.structured`), titled with the agent."""
        return answer_schema(self.output_model, title=self.kind.value, description=self.description)

    def output_schema_source(self) -> dict[str, Any]:
        """What `output_schema` is computed from (`answer_schema_source`)."""
        return answer_schema_source(self.output_model, title=self.kind.value, description=self.description)


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


AGENT_NAMES: tuple[str, ...] = tuple(kind.value for kind in AgentKind)
TEMPLATE_NAMES: tuple[str, ...] = (*AGENT_NAMES, PAIRWISE_JUDGE)
"""Every prompt template's name: the agents', and the pairwise judge's (`dealgraph.agents.judge`)."""


def output_schema_of(name: str) -> dict[str, Any]:
    """The structured-output schema of a template's answers; ValueError for a name no template has."""
    return judge_schema() if name == PAIRWISE_JUDGE else AGENTS[AgentKind(name)].output_schema


def output_schema_source_of(name: str) -> dict[str, Any]:
    """What `output_schema_of(name)` is computed from, without importing the SDK (`answer_schema_source`)."""
    return judge_schema_source() if name == PAIRWISE_JUDGE else AGENTS[AgentKind(name)].output_schema_source()


@cache
def shared_output_schema() -> dict[str, Any]:
    """One output schema for all four agents: each answers under its own key and sets the others to null.

    Structured outputs add a system prompt describing the output format, and changing the format
    invalidates the prompt cache (https://platform.claude.com/docs/en/build-with-claude/structured-outputs,
    prompt modification and token costs). Agents with four different schemas can therefore never read each
    other's cache entry for the transcript; with this byte-identical one they can (`leader` cache sharing).
    """
    defs: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for kind, agent in AGENTS.items():
        schema = dict(agent.output_schema)
        for name, definition in schema.pop("$defs", {}).items():
            if defs.setdefault(name, definition) != definition:
                raise ValueError(f"output models define '{name}' differently; rename one")
        properties[kind.value] = {"anyOf": [schema, {"type": "null"}]}
    return {
        "type": "object",
        "title": "analysis",
        "description": "The answer of one agent under its key; every other key null.",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        "$defs": defs,
    }
