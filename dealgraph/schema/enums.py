"""GraphQL names and descriptions for the enums the layers below the schema define.

`strawberry.enum` marks the class itself and returns it, so each enum is registered here once and every
schema module annotates with the very class the services, models and agents use: no second name for the
same enum, and mypy sees an ordinary enum type.
"""

from __future__ import annotations

import strawberry

from dealgraph.agents.kinds import AgentKind
from dealgraph.db.models import AnalysisStatus, DealStage, LinkedBy, Role, RunStatus, SideSource
from dealgraph.errors import UserErrorCode
from dealgraph.search.request import SearchMode
from dealgraph.services.deals import DealOrderField
from dealgraph.services.experiment_scores import PairwiseWinner, Score, Verdict
from dealgraph.services.experiments import ExperimentMode, ExperimentStatus, RequestState
from dealgraph.services.people import PersonOrderField
from dealgraph.services.prompts import PromptKind
from dealgraph.transcripts.formats import TranscriptFormat
from dealgraph.transcripts.metrics import ConversationFigure, Side, Timing, TimingRule

strawberry.enum(AgentKind)
strawberry.enum(AnalysisStatus)
strawberry.enum(RunStatus, name="AgentRunStatus")
strawberry.enum(DealStage)
strawberry.enum(DealOrderField)
strawberry.enum(PersonOrderField)
strawberry.enum(ConversationFigure, description="A figure of a conversation roll-up (see ConversationMetrics).")
strawberry.enum(Role)
strawberry.enum(TranscriptFormat)
strawberry.enum(UserErrorCode)
strawberry.enum(Side, description="Which company a person speaks for: the seller (the tenant) or the buyer.")
strawberry.enum(SideSource)
strawberry.enum(LinkedBy)
strawberry.enum(Timing, description="EXACT: every utterance has a start and an end; ESTIMATED: see timingRule.")
strawberry.enum(TimingRule)
strawberry.enum(ExperimentMode, description="BATCH: one Message Batch, at half the price; LIVE: request by request.")
strawberry.enum(ExperimentStatus, description="RUNNING: a pool holds it (sending, or polling its batch).")
strawberry.enum(
    RequestState,
    name="ExperimentRequestState",
    description="STORED: an analysis' earlier result; SKIPPED: a judge request not sent (an answer failed).",
)
strawberry.enum(PromptKind, description="AGENT: an agent's prompt; PAIRWISE_JUDGE: the judge experiments compare with.")
strawberry.enum(Score, name="ExperimentScore", description="What an experiment judges per call.")
strawberry.enum(Verdict, name="ExperimentVerdict")
strawberry.enum(PairwiseWinner, description="An experiment's side (BASELINE, CANDIDATE), or TIE for a verdict.")
strawberry.enum(
    SearchMode,
    description="KEYWORD: full-text; SEMANTIC: nearest utterance windows by meaning; HYBRID: both, by reciprocal rank fusion.",
)

__all__ = [
    "AgentKind",
    "AnalysisStatus",
    "ConversationFigure",
    "DealOrderField",
    "DealStage",
    "ExperimentMode",
    "ExperimentStatus",
    "LinkedBy",
    "PairwiseWinner",
    "PersonOrderField",
    "PromptKind",
    "Role",
    "RequestState",
    "RunStatus",
    "Score",
    "SearchMode",
    "Side",
    "SideSource",
    "Timing",
    "TimingRule",
    "TranscriptFormat",
    "UserErrorCode",
    "Verdict",
]
