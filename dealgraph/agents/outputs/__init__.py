"""Pydantic output models of the analysis agents: the JSON schemas of their structured outputs and the GraphQL result types."""

from dealgraph.agents.outputs.action_items import ActionItem, ActionItemsOutput, Priority
from dealgraph.agents.outputs.common import (
    Confidence,
    Evidence,
    Sentiment,
    SupportingEvidence,
    count_evidence,
    verify_evidence,
)
from dealgraph.agents.outputs.crm_updates import (
    AmountUpdate,
    CloseDateUpdate,
    CrmUpdates,
    FollowUpEmail,
    NextStepUpdate,
    StageUpdate,
    SuggestedStage,
)
from dealgraph.agents.outputs.meddpicc import MEDDPICC_ELEMENTS, MeddpiccElement, MeddpiccOutput, MeddpiccStatus
from dealgraph.agents.outputs.meeting import (
    CompetitorMention,
    MeetingOutput,
    Objection,
    Risk,
    Severity,
    TalkTime,
    compute_talk_time,
)
from dealgraph.agents.outputs.stakeholders import (
    CommitteeRole,
    CompanySide,
    Influence,
    Stakeholder,
    StakeholdersOutput,
)

__all__ = [
    "MEDDPICC_ELEMENTS",
    "ActionItem",
    "ActionItemsOutput",
    "AmountUpdate",
    "CloseDateUpdate",
    "CommitteeRole",
    "CompanySide",
    "CompetitorMention",
    "Confidence",
    "CrmUpdates",
    "Evidence",
    "FollowUpEmail",
    "Influence",
    "MeddpiccElement",
    "MeddpiccOutput",
    "MeddpiccStatus",
    "MeetingOutput",
    "NextStepUpdate",
    "Objection",
    "Priority",
    "Risk",
    "Sentiment",
    "Severity",
    "StageUpdate",
    "Stakeholder",
    "StakeholdersOutput",
    "SuggestedStage",
    "SupportingEvidence",
    "TalkTime",
    "compute_talk_time",
    "count_evidence",
    "verify_evidence",
]
