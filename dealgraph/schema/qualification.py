"""A deal's MEDDPICC qualification, rolled up across its analysed calls."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from dealgraph.agents.outputs import MEDDPICC_ELEMENTS, MeddpiccStatus
from dealgraph.resolvers.qualification import ElementStanding, Qualification
from dealgraph.schema.agent_results import Evidence
from dealgraph.server.context import Context

if TYPE_CHECKING:
    from dealgraph.schema.transcripts import Transcript

TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]
MeddpiccElementKey = strawberry.enum(
    enum.Enum("MeddpiccElementKey", {key.upper(): key for key in MEDDPICC_ELEMENTS}),  # type: ignore[misc]
    description="The eight MEDDPICC elements.",
)


@strawberry.type(description="Where one element stands, and the call whose evidence set it.")
class QualificationElement:
    element: MeddpiccElementKey  # type: ignore[valid-type]
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
    elements: list[QualificationElement]

    @classmethod
    def of(cls, qualification: Qualification) -> DealQualification:
        return cls(
            analysed_calls=qualification.analysed_calls,
            elements=[QualificationElement.of(e) for e in qualification.elements],
        )
