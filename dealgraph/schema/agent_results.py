"""Agent results as typed GraphQL objects, generated from the agents' pydantic output models.

The output models are the single source of truth: the same classes are the JSON schema of the structured
output Claude answers in and, through strawberry's pydantic integration, the GraphQL types clients query.
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.experimental.pydantic import type as pydantic_type

from dealgraph.agents import outputs
from dealgraph.agents.kinds import AgentKind

for _enum in (
    outputs.MeddpiccStatus,
    outputs.Priority,
    outputs.CompanySide,
    outputs.CommitteeRole,
    outputs.Influence,
    outputs.Sentiment,
    outputs.Severity,
    outputs.SuggestedStage,
):
    strawberry.enum(_enum)


@pydantic_type(
    model=outputs.Evidence, all_fields=True, description="A transcript quote, verified against the original text."
)
class Evidence:
    pass


@pydantic_type(model=outputs.MeddpiccElement, all_fields=True)
class MeddpiccElement:
    pass


@pydantic_type(model=outputs.MeddpiccOutput, all_fields=True, name="MeddpiccResult")
class MeddpiccResult:
    pass


@pydantic_type(model=outputs.ActionItem, all_fields=True)
class ActionItem:
    pass


@pydantic_type(model=outputs.ActionItemsOutput, all_fields=True, name="ActionItemsResult")
class ActionItemsResult:
    pass


@pydantic_type(model=outputs.Stakeholder, all_fields=True)
class Stakeholder:
    pass


@pydantic_type(model=outputs.StakeholdersOutput, all_fields=True, name="StakeholdersResult")
class StakeholdersResult:
    pass


@pydantic_type(model=outputs.Objection, all_fields=True)
class Objection:
    pass


@pydantic_type(model=outputs.CompetitorMention, all_fields=True)
class CompetitorMention:
    pass


@pydantic_type(model=outputs.Risk, all_fields=True)
class Risk:
    pass


@pydantic_type(model=outputs.TalkTime, all_fields=True)
class TalkTime:
    pass


@pydantic_type(model=outputs.CloseDateUpdate, all_fields=True)
class CloseDateUpdate:
    pass


@pydantic_type(model=outputs.AmountUpdate, all_fields=True)
class AmountUpdate:
    pass


@pydantic_type(model=outputs.NextStepUpdate, all_fields=True)
class NextStepUpdate:
    pass


@pydantic_type(model=outputs.StageUpdate, all_fields=True)
class StageUpdate:
    pass


@pydantic_type(model=outputs.FollowUpEmail, all_fields=True)
class FollowUpEmail:
    pass


@pydantic_type(
    model=outputs.CrmUpdates,
    all_fields=True,
    description="What the call supports changing on the deal; the deal's `proposals` are what a person decides.",
)
class CrmUpdates:
    pass


@pydantic_type(model=outputs.MeetingOutput, all_fields=True, name="MeetingIntelligenceResult")
class MeetingIntelligenceResult:
    pass


AgentResult = Annotated[
    MeddpiccResult | ActionItemsResult | StakeholdersResult | MeetingIntelligenceResult,
    strawberry.union("AgentResult", description="The typed result of one agent."),
]

_RESULT_TYPES: dict[AgentKind, Any] = {
    AgentKind.MEDDPICC: (outputs.MeddpiccOutput, MeddpiccResult),
    AgentKind.ACTION_ITEMS: (outputs.ActionItemsOutput, ActionItemsResult),
    AgentKind.STAKEHOLDERS: (outputs.StakeholdersOutput, StakeholdersResult),
    AgentKind.MEETING_INTELLIGENCE: (outputs.MeetingOutput, MeetingIntelligenceResult),
}


def agent_result(agent: str, stored: dict[str, Any]) -> Any:
    model, graphql_type = _RESULT_TYPES[AgentKind(agent)]
    return graphql_type.from_pydantic(model.model_validate(stored))
