"""Proposed CRM updates on a deal, the decisions on them, and the inputs of those decisions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.agents import outputs
from dealgraph.db import models
from dealgraph.db.models import DealStage, ProposalField, ProposalStatus
from dealgraph.schema.agent_results import Evidence
from dealgraph.schema.common import LoadedNode, UserError, global_id, referenced
from dealgraph.schema.context import Context
from dealgraph.schema.health import DealEvent
from dealgraph.schema.tenancy import User
from dealgraph.transcripts.metrics import Side

if TYPE_CHECKING:
    from dealgraph.schema.analyses import Analysis
    from dealgraph.schema.deals import Deal
    from dealgraph.schema.people import Person
    from dealgraph.schema.transcripts import Transcript

Info = strawberry.Info[Context, None]
DealType = Annotated["Deal", strawberry.lazy("dealgraph.schema.deals")]
TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]
AnalysisType = Annotated["Analysis", strawberry.lazy("dealgraph.schema.analyses")]
PersonType = Annotated["Person", strawberry.lazy("dealgraph.schema.people")]

strawberry.enum(ProposalField, description="The deal field a proposal is for; FOLLOW_UP_EMAIL changes no field.")
strawberry.enum(
    ProposalStatus,
    description="SUGGESTED: waiting for a person; ACCEPTED: applied as proposed; EDITED: applied with the person's "
    "value; REJECTED; SUPERSEDED: a newer call proposed the field again.",
)


@strawberry.type(description="A follow-up email draft; dealgraph never sends it.")
class EmailDraft:
    subject: str
    body: str


@strawberry.type(description="A close date.")
class DateValue:
    date: date


@strawberry.type(description="An amount, in the deal's currency.")
class AmountValue:
    amount: Decimal


@strawberry.type(description="A next step.")
class TextValue:
    text: str


@strawberry.type(description="A deal stage.")
class StageValue:
    stage: DealStage


ProposalValue = Annotated[
    DateValue | AmountValue | TextValue | StageValue | EmailDraft,
    strawberry.union("ProposalValue", description="A value of the proposal's field, typed by the field."),
]


def proposal_value(field: ProposalField, stored: Any) -> ProposalValue | None:
    """The stored JSON value as its GraphQL type; None for a value that is not set."""
    match field:
        case _ if stored is None:
            return None
        case ProposalField.CLOSE_DATE:
            return DateValue(date=date.fromisoformat(stored))
        case ProposalField.AMOUNT:
            return AmountValue(amount=Decimal(stored))
        case ProposalField.STAGE:
            return StageValue(stage=DealStage(stored))
        case ProposalField.FOLLOW_UP_EMAIL:
            return EmailDraft(subject=stored["subject"], body=stored["body"])
    return TextValue(text=stored)


@strawberry.type(description="One decision on a proposal: who, when, and the deal field's value before and after.")
class ProposalDecision:
    decision: ProposalStatus
    reason: str | None
    created_at: datetime
    row: strawberry.Private[models.ProposalDecision]
    field: strawberry.Private[ProposalField]

    @classmethod
    def of(cls, row: models.ProposalDecision, field: ProposalField) -> ProposalDecision:
        return cls(
            decision=ProposalStatus(row.decision), reason=row.reason, created_at=row.created_at, row=row, field=field
        )

    @strawberry.field(description="Who decided; null when dealgraph did (SUPERSEDED) or the user was deleted.")
    async def actor(self, info: Info) -> User | None:
        row = await info.context.loaders.user.load(self.row.actor_id) if self.row.actor_id else None
        return User.from_row(row) if row else None

    @strawberry.field(description="The deal field before the decision (for a follow-up email: null).")
    def from_value(self) -> ProposalValue | None:
        return proposal_value(self.field, self.row.from_value)

    @strawberry.field(description="The deal field after it (for a follow-up email: the draft taken, if any).")
    def to_value(self) -> ProposalValue | None:
        return proposal_value(self.field, self.row.to_value)


@strawberry.type(
    description="A value an analysis proposes for one of the deal's fields, with its evidence; applied to the deal "
    "only when a person accepts it."
)
class Proposal(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    field: ProposalField
    status: ProposalStatus
    confidence: float
    created_at: datetime
    decided_at: datetime | None
    reason: str | None = strawberry.field(description="Why it was rejected, if the person said.")
    evidence: list[Evidence] = strawberry.field(
        description="The quotes from the call that support the value, verified against the transcript."
    )
    row: strawberry.Private[models.DealProposal]

    @classmethod
    def node_loader(cls, info: Info) -> DataLoader[uuid.UUID, Any]:
        return info.context.loaders.proposal

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """The stored quotes become `Evidence` objects here, held by the proposal like a result's items."""
        proposal = super().from_row(row)
        proposal.evidence = [Evidence.from_pydantic(outputs.Evidence.model_validate(q)) for q in row.evidence]
        return proposal

    @strawberry.field
    def proposed(self) -> ProposalValue:
        value = proposal_value(self.field, self.row.proposed)
        assert value is not None  # a proposal always proposes a value
        return value

    @strawberry.field(description="The deal's value of the field when the proposal was made; null if it was not set.")
    def current(self) -> ProposalValue | None:
        return proposal_value(self.field, self.row.current)

    @strawberry.field(description="What was applied (ACCEPTED, EDITED) or taken (a follow-up email).")
    def decided_value(self) -> ProposalValue | None:
        return proposal_value(self.field, self.row.decided_value)

    @strawberry.field
    async def deal(self, info: Info) -> DealType:
        from dealgraph.schema.deals import Deal

        return Deal.from_row(referenced(await info.context.loaders.deal.load(self.row.deal_id)))

    @strawberry.field(description="The call the proposal comes from.")
    async def transcript(self, info: Info) -> TranscriptType:
        from dealgraph.schema.transcripts import Transcript

        return Transcript.from_row(referenced(await info.context.loaders.transcript.load(self.row.transcript_id)))

    @strawberry.field
    async def analysis(self, info: Info) -> AnalysisType:
        from dealgraph.schema.analyses import Analysis

        return Analysis.from_row(referenced(await info.context.loaders.analysis.load(self.row.analysis_id)))

    @strawberry.field
    async def decided_by(self, info: Info) -> User | None:
        row = await info.context.loaders.user.load(self.row.decided_by_id) if self.row.decided_by_id else None
        return User.from_row(row) if row else None

    @strawberry.field(
        description="For a follow-up email: the buyer-side people who spoke on the call (as their sides are now), "
        "the draft's recipients. Empty for the other fields."
    )
    async def recipients(self, info: Info) -> list[PersonType]:
        from dealgraph.schema.people import Person

        if self.field is not ProposalField.FOLLOW_UP_EMAIL:
            return []
        speakers = await info.context.loaders.speakers_by_transcript.load(self.row.transcript_id)
        linked = [speaker.person_id for speaker in speakers if speaker.person_id is not None]
        people = await info.context.loaders.person.load_many(list(dict.fromkeys(linked)))
        return [Person.from_row(row) for row in people if row is not None and row.side == Side.BUYER.value]

    @strawberry.field(description="Every decision on the proposal, oldest first.")
    async def audit(self, info: Info) -> list[ProposalDecision]:
        rows = await info.context.loaders.decisions_by_proposal.load(self.row.id)
        return [ProposalDecision.of(row, self.field) for row in rows]


@strawberry.input(description="An email draft as the rep wants it.")
class EmailDraftInput:
    subject: str
    body: str


@strawberry.input(description="The rep's own value: give only the member for the proposal's field.")
class ProposalValueInput:
    close_date: date | None = strawberry.UNSET
    amount: Decimal | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    stage: DealStage | None = strawberry.UNSET
    follow_up_email: EmailDraftInput | None = strawberry.UNSET


@strawberry.type
class ProposalPayload:
    proposal: Proposal | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(
    description="Proposals of the deal just made (an analysis finished) or decided, as they are now; after a lost "
    "connection to the event source, the deal's SUGGESTED proposals."
)
class ProposalsChanged(DealEvent):
    proposals: list[Proposal]

    @classmethod
    def of(cls, deal_id: uuid.UUID, rows: list[models.DealProposal]) -> ProposalsChanged:
        return cls(deal_id=global_id("Deal", deal_id), proposals=[Proposal.from_row(row) for row in rows])
