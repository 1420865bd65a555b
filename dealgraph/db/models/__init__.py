"""All mapped tables; importing this module registers them on `Base.metadata` (alembic needs that)."""

from dealgraph.db.models.analyses import AgentRun, Analysis, AnalysisStatus, RunStatus
from dealgraph.db.models.corrections import ResultCorrection
from dealgraph.db.models.crm import Account, Deal, DealStage
from dealgraph.db.models.datasets import Dataset, DatasetVersion
from dealgraph.db.models.deal_room import DealHealth, DealStageChange, HealthSettings
from dealgraph.db.models.experiments import Experiment, ExperimentRequest, RequestSide
from dealgraph.db.models.people import (
    CallMetrics,
    LinkedBy,
    PeopleSettings,
    Person,
    PersonAlias,
    SideSource,
    TranscriptSpeaker,
)
from dealgraph.db.models.prompts import PromptAudit, PromptLabel, PromptTemplate, PromptVersion
from dealgraph.db.models.proposals import DealProposal, ProposalDecision, ProposalField, ProposalStatus
from dealgraph.db.models.search import SearchJob
from dealgraph.db.models.tenancy import ApiKey, Role, Tenant, User
from dealgraph.db.models.transcripts import Transcript, TranscriptUtterance

__all__ = [
    "Account",
    "AgentRun",
    "Analysis",
    "AnalysisStatus",
    "CallMetrics",
    "Dataset",
    "DatasetVersion",
    "Experiment",
    "ExperimentRequest",
    "ApiKey",
    "Deal",
    "DealProposal",
    "DealStage",
    "DealHealth",
    "DealStageChange",
    "HealthSettings",
    "LinkedBy",
    "PeopleSettings",
    "Person",
    "PersonAlias",
    "PromptAudit",
    "PromptLabel",
    "PromptTemplate",
    "PromptVersion",
    "ProposalDecision",
    "ProposalField",
    "ProposalStatus",
    "ResultCorrection",
    "Role",
    "RequestSide",
    "RunStatus",
    "SearchJob",
    "SideSource",
    "Tenant",
    "Transcript",
    "TranscriptSpeaker",
    "TranscriptUtterance",
    "User",
]
