"""A deal's MEDDPICC qualification, rolled up across its analysed calls."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from dealgraph.agents.outputs import MeddpiccStatus
from dealgraph.schema.agent_results import Evidence
from dealgraph.schema.context import Context
from dealgraph.services.qualification import ElementStanding, Qualification, ScoredCall, Trend

if TYPE_CHECKING:
    from dealgraph.schema.transcripts import Transcript

TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]


@strawberry.enum(description="The eight MEDDPICC elements.")
class MeddpiccElementKey(enum.Enum):
    """Spelled out for the type checker; a test holds it to `MEDDPICC_ELEMENTS`, which the output model defines."""

    METRICS = "metrics"
    ECONOMIC_BUYER = "economic_buyer"
    DECISION_CRITERIA = "decision_criteria"
    DECISION_PROCESS = "decision_process"
    PAPER_PROCESS = "paper_process"
    IDENTIFY_PAIN = "identify_pain"
    CHAMPION = "champion"
    COMPETITION = "competition"


@strawberry.type(description="Where one element stands, and the call whose evidence set it.")
class QualificationElement:
    element: MeddpiccElementKey
    status: MeddpiccStatus
    summary: str | None
    confidence: float | None
    evidence: list[Evidence]
    call_occurred_at: datetime | None
    standing: strawberry.Private[ElementStanding]

    @classmethod
    def of(cls, standing: ElementStanding) -> QualificationElement:
        element = standing.element
        return cls(
            element=MeddpiccElementKey(standing.key),
            status=standing.status,
            summary=element.summary if element else None,
            confidence=element.confidence if element else None,
            evidence=[Evidence.from_pydantic(e) for e in element.evidence] if element else [],
            call_occurred_at=standing.source.occurred_at if standing.source else None,
            standing=standing,
        )

    @strawberry.field(description="The call that set this element (null when no call covered it).")
    async def transcript(self, info: strawberry.Info[Context, None]) -> TranscriptType | None:
        from dealgraph.schema.transcripts import Transcript

        if self.standing.source is None:
            return None
        row = await info.context.loaders.transcript.load(self.standing.source.transcript_id)
        return Transcript.from_row(row) if row else None


@strawberry.type(
    description="MEDDPICC across every analysed call of the deal: per element, the most recent call that found it "
    "identified or partial sets it; a later call that did not touch it does not erase it."
)
class DealQualification:
    analysed_calls: int
    score: float = strawberry.field(
        description="The roll-up's elements scored: identified = 1, partial = 0.5, averaged over the eight (0 to 1)."
    )
    qualification: strawberry.Private[Qualification]

    @classmethod
    def of(cls, qualification: Qualification) -> DealQualification:
        return cls(analysed_calls=qualification.analysed_calls, score=qualification.score, qualification=qualification)

    @strawberry.field
    def elements(self) -> list[QualificationElement]:
        """Built when asked for: a board asks each deal for its score alone."""
        return [QualificationElement.of(e) for e in self.qualification.elements]


strawberry.enum(Trend, description="A call's score against the call before.")


@strawberry.type(description="How one call found one element.")
class CallElement:
    element: MeddpiccElementKey
    status: MeddpiccStatus
    confidence: float


@strawberry.type(description="One analysed call's MEDDPICC (its latest successful analysis).")
class QualifiedCall:
    call_occurred_at: datetime
    analysed_at: datetime
    score: float = strawberry.field(description="identified = 1, partial = 0.5, averaged over the eight elements.")
    trend: Trend | None = strawberry.field(description="Against the call before; null for the first call.")
    elements: list[CallElement]
    scored: strawberry.Private[ScoredCall]

    @classmethod
    def of(cls, scored: ScoredCall) -> QualifiedCall:
        return cls(
            call_occurred_at=scored.call.occurred_at,
            analysed_at=scored.call.analysed_at,
            score=scored.score,
            trend=scored.trend,
            elements=[
                CallElement(
                    element=key,
                    status=scored.element(key.value).status,
                    confidence=scored.element(key.value).confidence,
                )
                for key in MeddpiccElementKey
            ],
            scored=scored,
        )

    @strawberry.field(description="The call.")
    async def transcript(self, info: strawberry.Info[Context, None]) -> TranscriptType | None:
        from dealgraph.schema.transcripts import Transcript

        row = await info.context.loaders.transcript.load(self.scored.call.transcript_id)
        return Transcript.from_row(row) if row else None
