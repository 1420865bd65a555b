"""Deals: an opportunity with an account, its stage, value and owner, and its call transcripts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from dealgraph.db import models
from dealgraph.resolvers.deals import DealOrderField as DealOrderFieldEnum
from dealgraph.resolvers.pagination import page_request, slice_page
from dealgraph.schema.accounts import Account
from dealgraph.schema.common import Connection, SortDirection, UserError, load_nodes
from dealgraph.schema.qualification import DealQualification
from dealgraph.schema.tenancy import User
from dealgraph.search.filters import SearchFilters
from dealgraph.search.service import search_with_default
from dealgraph.server.context import Context

if TYPE_CHECKING:
    from dealgraph.schema.transcripts import SearchHit, Transcript

TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]
SearchHitType = Annotated["SearchHit", strawberry.lazy("dealgraph.schema.transcripts")]
DealStage = strawberry.enum(models.DealStage, name="DealStage")
DealOrderField = strawberry.enum(DealOrderFieldEnum, name="DealOrderField")


@strawberry.type
class Deal(relay.Node):
    id: relay.NodeID[str]
    name: str
    stage: DealStage  # type: ignore[valid-type]
    amount: Decimal | None
    currency: str
    close_date: date | None
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[uuid.UUID]
    account_pk: strawberry.Private[uuid.UUID]
    owner_pk: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: models.Deal) -> Deal:
        return cls(
            id=str(row.id), name=row.name, stage=row.stage, amount=row.amount, currency=row.currency,
            close_date=row.close_date, created_at=row.created_at, updated_at=row.updated_at,
            pk=row.id, account_pk=row.account_id, owner_pk=row.owner_id,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Deal | None]:
        return await load_nodes(info.context.loaders.deal, node_ids, cls.from_row, required=required)

    @strawberry.field
    async def account(self, info: strawberry.Info[Context, None]) -> Account:
        return Account.from_row(await info.context.loaders.account.load(self.account_pk))

    @strawberry.field
    async def owner(self, info: strawberry.Info[Context, None]) -> User | None:
        row = await info.context.loaders.user.load(self.owner_pk) if self.owner_pk else None
        return User.from_row(row) if row else None

    @strawberry.field(description="Call transcripts of this deal, most recent call first.")
    async def transcripts(
        self, info: strawberry.Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[TranscriptType]:
        from dealgraph.schema.transcripts import Transcript

        rows = await info.context.loaders.transcripts_by_deal.load(self.pk)
        page = slice_page(rows, page_request(first, after, info.context.settings.max_page_size), "deal-transcripts")
        return Connection.of(page, Transcript.from_row)

    @strawberry.field(
        description="The moments across this deal's calls that best answer `query` (\"ask the deal\"): HYBRID search "
        "where the server has pgvector, KEYWORD elsewhere."
    )
    async def moments(
        self, info: strawberry.Info[Context, None], query: str, first: int | None = None, after: str | None = None
    ) -> Connection[SearchHitType]:
        from dealgraph.schema.transcripts import SearchHit

        request = page_request(first, after, info.context.settings.max_page_size)
        page = await search_with_default(info.context, query, None, request, SearchFilters(deal_id=self.pk))
        return Connection.of(page, SearchHit.from_row)

    @strawberry.field(description="MEDDPICC rolled up across the deal's analysed calls.")
    async def qualification(self, info: strawberry.Info[Context, None]) -> DealQualification:
        return DealQualification.of(await info.context.loaders.qualification.load(self.pk))


@strawberry.input
class DealFilter:
    stages: list[DealStage] | None = None  # type: ignore[valid-type]
    account_id: relay.GlobalID | None = None
    owner_id: relay.GlobalID | None = None
    close_date_from: date | None = strawberry.field(default=None, description="Inclusive.")
    close_date_to: date | None = strawberry.field(default=None, description="Inclusive.")
    text: str | None = strawberry.field(default=None, description="Substring of the deal or account name.")


@strawberry.input
class DealOrder:
    field: DealOrderField = DealOrderFieldEnum.CREATED_AT  # type: ignore[valid-type]
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class CreateDealInput:
    account_id: relay.GlobalID
    name: str
    stage: DealStage = models.DealStage.PROSPECTING  # type: ignore[valid-type]
    amount: Decimal | None = None
    currency: str = "USD"
    close_date: date | None = None
    owner_id: relay.GlobalID | None = None


@strawberry.input(description="Fields left out are unchanged; null clears an optional field.")
class UpdateDealInput:
    id: relay.GlobalID
    account_id: relay.GlobalID | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    stage: DealStage | None = strawberry.UNSET  # type: ignore[valid-type]
    amount: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    close_date: date | None = strawberry.UNSET
    owner_id: relay.GlobalID | None = strawberry.UNSET


@strawberry.type
class DealPayload:
    deal: Deal | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
