"""Deals: an opportunity with an account, its stage, value and owner, and its call transcripts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.db import models
from dealgraph.db.repositories.search import SearchFilters
from dealgraph.schema.accounts import Account
from dealgraph.schema.common import LoadedNode, SortDirection, UserError
from dealgraph.schema.connections import Connection, LoadedList, Pages
from dealgraph.schema.context import Context
from dealgraph.schema.enums import DealOrderField, DealStage
from dealgraph.schema.proposals import Proposal, ProposalStatus
from dealgraph.schema.qualification import DealQualification, QualifiedCall
from dealgraph.schema.tenancy import User
from dealgraph.services.deals import StageEntry
from dealgraph.services.health_rules import HealthStatus, WarningCode
from dealgraph.services.qualification import history, roll_up

if TYPE_CHECKING:
    from dealgraph.schema.health import DealHealth
    from dealgraph.schema.people import ConversationFigureRange, ConversationMetrics, DealPerson
    from dealgraph.schema.transcripts import SearchHit, Transcript

TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]
DealHealthType = Annotated["DealHealth", strawberry.lazy("dealgraph.schema.health")]
SearchHitType = Annotated["SearchHit", strawberry.lazy("dealgraph.schema.transcripts")]
DealPersonType = Annotated["DealPerson", strawberry.lazy("dealgraph.schema.people")]
ConversationMetricsType = Annotated["ConversationMetrics", strawberry.lazy("dealgraph.schema.people")]
ConversationFigureRangeType = Annotated["ConversationFigureRange", strawberry.lazy("dealgraph.schema.people")]


@strawberry.type(
    description="The deal entered `toStage`: from `fromStage` (null when it was created in it), by whom, when."
)
class StageChange:
    from_stage: DealStage | None
    to_stage: DealStage
    changed_at: datetime
    entry: strawberry.Private[StageEntry]

    @classmethod
    def of(cls, entry: StageEntry) -> StageChange:
        return cls(
            from_stage=entry.from_stage,
            to_stage=entry.to_stage,
            changed_at=entry.changed_at,
            entry=entry,
        )

    @strawberry.field(description="The user who made the change (null when unknown, or since deleted).")
    async def changed_by(self, info: strawberry.Info[Context, None]) -> User | None:
        row = await info.context.loaders.user.load(self.entry.changed_by) if self.entry.changed_by else None
        return User.from_row(row) if row else None


@strawberry.type
class Deal(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    name: str
    stage: DealStage
    amount: Decimal | None
    currency: str
    close_date: date | None
    next_step: str | None
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.Deal]

    @classmethod
    def node_loader(cls, info: strawberry.Info[Context, None]) -> DataLoader[uuid.UUID, Any]:
        return info.context.loaders.deal

    @strawberry.field
    async def account(self, info: strawberry.Info[Context, None]) -> Account:
        return Account.from_row(await info.context.loaders.account.load(self.row.account_id))

    @strawberry.field
    async def owner(self, info: strawberry.Info[Context, None]) -> User | None:
        row = await info.context.loaders.user.load(self.row.owner_id) if self.row.owner_id else None
        return User.from_row(row) if row else None

    @relay.connection(Connection[TranscriptType], description="Call transcripts of this deal, most recent call first.")
    async def transcripts(self, info: strawberry.Info[Context, None]) -> Pages[TranscriptType]:
        from dealgraph.schema.transcripts import Transcript

        rows = await info.context.loaders.transcripts_by_deal.load(self.row.id)
        return LoadedList(rows, Transcript.from_row, "deal-transcripts")

    @relay.connection(
        Connection[SearchHitType],
        description='The moments across this deal\'s calls that best answer `query` ("ask the deal"): HYBRID search '
        "where the server has pgvector, KEYWORD elsewhere.",
    )
    def moments(self, info: strawberry.Info[Context, None], query: str) -> Pages[SearchHitType]:
        from dealgraph.schema.transcripts import search_hits

        return search_hits(info, query, None, SearchFilters(deal_id=self.row.id))

    @strawberry.field(description="Everyone who spoke on the deal's calls (linked speakers), latest seen first.")
    async def people(self, info: strawberry.Info[Context, None]) -> list[DealPersonType]:
        from dealgraph.schema.people import DealPerson

        return [DealPerson.of(seen) for seen in await info.context.loaders.deal_people.load(self.row.id)]

    @strawberry.field(description="The deal's calls' conversation metrics rolled up, about its seller side.")
    async def conversation(self, info: strawberry.Info[Context, None]) -> ConversationMetricsType:
        from dealgraph.schema.people import ConversationMetrics

        return ConversationMetrics.of((await info.context.loaders.deal_calls.load(self.row.id)).rollup)

    @relay.connection(
        Connection[Proposal],
        description="CRM updates proposed by the deal's analysed calls, newest first; `status` filters them "
        "(SUGGESTED: what is waiting for a person).",
    )
    async def proposals(
        self, info: strawberry.Info[Context, None], status: ProposalStatus | None = None
    ) -> Pages[Proposal]:
        rows = await info.context.loaders.proposals_by_deal.load((self.row.id, status.value if status else None))
        return LoadedList(rows, Proposal.from_row, "deal-proposals")

    @strawberry.field(
        description="Health warnings with their evidence, and the status they add up to (recomputed in the background)."
    )
    async def health(self, info: strawberry.Info[Context, None]) -> DealHealthType:
        from dealgraph.schema.health import DealHealth

        return DealHealth.of(await info.context.loaders.health.load(self.row.id))

    @strawberry.field(description="Every stage the deal entered, oldest first; its creation is the first entry.")
    async def stage_history(self, info: strawberry.Info[Context, None]) -> list[StageChange]:
        return [StageChange.of(entry) for entry in await info.context.loaders.stage_history.load(self.row.id)]

    @strawberry.field(description="MEDDPICC rolled up across the deal's analysed calls.")
    async def qualification(self, info: strawberry.Info[Context, None]) -> DealQualification:
        return DealQualification.of(roll_up(await info.context.loaders.analysed_calls.load(self.row.id)))

    @strawberry.field(
        description="MEDDPICC per analysed call, oldest first: each element as that call found it, the call's score "
        "(identified = 1, partial = 0.5, averaged over the eight elements: 0 to 1) and its trend against the call before."
    )
    async def qualification_history(self, info: strawberry.Info[Context, None]) -> list[QualifiedCall]:
        return [QualifiedCall.of(call) for call in history(await info.context.loaders.analysed_calls.load(self.row.id))]


@strawberry.input
class DealFilter:
    stages: list[DealStage] | None = None
    account_id: relay.GlobalID | None = None
    owner_id: relay.GlobalID | None = None
    close_date_from: date | None = strawberry.field(default=None, description="Inclusive.")
    close_date_to: date | None = strawberry.field(default=None, description="Inclusive.")
    text: str | None = strawberry.field(default=None, description="Substring of the deal or account name.")
    conversation: ConversationFigureRangeType | None = strawberry.field(
        default=None, description="The deal's conversation metrics over its calls."
    )
    health: list[HealthStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    warning: WarningCode | None = strawberry.field(default=None, description="Deals with this warning.")


@strawberry.input
class DealOrder:
    field: DealOrderField = DealOrderField.CREATED_AT
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class CreateDealInput:
    account_id: relay.GlobalID
    name: str
    stage: DealStage = DealStage.PROSPECTING
    amount: Decimal | None = None
    currency: str = "USD"
    close_date: date | None = None
    next_step: str | None = None
    owner_id: relay.GlobalID | None = None


@strawberry.input(description="Fields left out are unchanged; null clears an optional field.")
class UpdateDealInput:
    id: relay.GlobalID
    account_id: relay.GlobalID | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    stage: DealStage | None = strawberry.UNSET
    amount: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    close_date: date | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    owner_id: relay.GlobalID | None = strawberry.UNSET


@strawberry.type
class DealPayload:
    deal: Deal | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
