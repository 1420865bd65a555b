"""Root query: the caller, the deal graph and transcript search, all scoped to the caller's tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

import strawberry
from strawberry import relay

from dealgraph.db import models
from dealgraph.resolvers import accounts, deals, prompts, transcripts
from dealgraph.resolvers.deals import DealFilter as DealCriteria
from dealgraph.resolvers.ids import node_uuid
from dealgraph.resolvers.pagination import page_request, slice_page
from dealgraph.schema.accounts import Account
from dealgraph.schema.analyses import AgentKind, Analysis
from dealgraph.schema.permissions import IsAdmin
from dealgraph.schema.prompts import PromptTemplate, RenderedPrompt
from dealgraph.schema.common import Connection, SortDirection, UNKNOWN_ID
from dealgraph.schema.deals import Deal, DealFilter, DealOrder
from dealgraph.schema.tenancy import Viewer
from dealgraph.schema.transcripts import SearchHit, SearchMode, Transcript
from dealgraph.search import service as search_service
from dealgraph.search.filters import SearchFilters
from dealgraph.server.context import Context

Info = strawberry.Info[Context, None]


def _page(info: Info, first: int | None, after: str | None) -> deals.PageRequest:
    return page_request(first, after, info.context.settings.max_page_size)


async def one_node(loader: Any, global_id: relay.GlobalID, node_type: Any) -> Any:
    """A typed single-object field: the node of that type and id if the caller may see it, else null."""
    row = await loader.load(node_uuid(global_id, node_type.__name__) or UNKNOWN_ID)
    return node_type.from_row(row) if row else None


def _optional_id(value: relay.GlobalID | None, type_name: str):  # type: ignore[no-untyped-def]
    return None if value is None else node_uuid(value, type_name) or UNKNOWN_ID


@strawberry.type
class Query:
    node: relay.Node | None = relay.node(description="Any object by its global id; null if not visible.")

    @strawberry.field
    def viewer(self, info: Info) -> Viewer:
        return Viewer(role=info.context.viewer.role)

    @strawberry.field(description="Accounts by name.")
    async def accounts(
        self, info: Info, first: int | None = None, after: str | None = None, search: str | None = None
    ) -> Connection[Account]:
        page = await accounts.list_accounts(info.context.tenant, _page(info, first, after), search)
        return Connection.of(page, Account.from_row)

    @strawberry.field
    async def account(self, info: Info, id: relay.GlobalID) -> Account | None:
        return await one_node(info.context.loaders.account, id, Account)

    @strawberry.field(description="Deals, filtered and ordered (default: newest first).")
    async def deals(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: DealFilter | None = None,
        order_by: DealOrder | None = None,
    ) -> Connection[Deal]:
        where = filter or DealFilter()
        order = order_by or DealOrder()
        criteria = DealCriteria(
            stages=where.stages,
            account_id=_optional_id(where.account_id, "Account"),
            owner_id=_optional_id(where.owner_id, "User"),
            close_date_from=where.close_date_from,
            close_date_to=where.close_date_to,
            text=where.text,
        )
        sort = deals.deal_sort(order.field, order.direction is SortDirection.DESC)
        page = await deals.list_deals(info.context.tenant, _page(info, first, after), criteria, sort)
        return Connection.of(page, Deal.from_row)

    @strawberry.field
    async def deal(self, info: Info, id: relay.GlobalID) -> Deal | None:
        return await one_node(info.context.loaders.deal, id, Deal)

    @strawberry.field(description="Transcripts, most recent call first.")
    async def transcripts(
        self, info: Info, first: int | None = None, after: str | None = None, deal_id: relay.GlobalID | None = None
    ) -> Connection[Transcript]:
        page = await transcripts.list_transcripts(
            info.context.tenant, _page(info, first, after), _optional_id(deal_id, "Deal")
        )
        return Connection.of(page, Transcript.from_row)

    @strawberry.field
    async def transcript(self, info: Info, id: relay.GlobalID) -> Transcript | None:
        return await one_node(info.context.loaders.transcript, id, Transcript)

    @strawberry.field(
        description="Search utterances: KEYWORD (web-search syntax: \"phrase\", or, -not), SEMANTIC or HYBRID. "
        "Without `mode`: HYBRID where the server has pgvector, KEYWORD elsewhere. Filters combine (AND): "
        "`speaker` matches exactly (any case), `occurredFrom` is inclusive and `occurredTo` exclusive."
    )
    async def search_transcripts(
        self,
        info: Info,
        query: str,
        first: int | None = None,
        after: str | None = None,
        deal_id: relay.GlobalID | None = None,
        mode: SearchMode | None = None,  # type: ignore[valid-type]
        account_id: relay.GlobalID | None = None,
        speaker: str | None = None,
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> Connection[SearchHit]:
        filters = SearchFilters(
            deal_id=_optional_id(deal_id, "Deal"), account_id=_optional_id(account_id, "Account"), speaker=speaker,
            occurred_from=occurred_from, occurred_to=occurred_to,
        )
        page = await search_service.search_with_default(info.context, query, mode, _page(info, first, after), filters)
        return Connection.of(page, SearchHit.from_row)

    @strawberry.field
    async def analysis(self, info: Info, id: relay.GlobalID) -> Analysis | None:
        return await one_node(info.context.loaders.analysis, id, Analysis)

    @strawberry.field(description="Your tenant's prompt templates and the built-in ones, by agent.")
    async def prompt_templates(
        self, info: Info, agent: AgentKind | None = None, first: int | None = None, after: str | None = None  # type: ignore[valid-type]
    ) -> Connection[PromptTemplate]:
        query = select(models.PromptTemplate).order_by(
            models.PromptTemplate.agent, models.PromptTemplate.tenant_id.is_(None), models.PromptTemplate.id
        )
        if agent is not None:
            query = query.where(models.PromptTemplate.agent == agent.value)
        async with info.context.tenant.session() as session:
            rows = list(await session.scalars(query))
        page = slice_page(rows, _page(info, first, after), "prompt-templates")
        return Connection.of(page, PromptTemplate.from_row)

    @strawberry.field
    async def prompt_template(self, info: Info, id: relay.GlobalID) -> PromptTemplate | None:
        return await one_node(info.context.loaders.prompt_template, id, PromptTemplate)

    @strawberry.field(
        description="Admins: exactly what a run of this version on this transcript would send, with its token count.",
        permission_classes=[IsAdmin],
    )
    async def render_prompt(self, info: Info, version_id: relay.GlobalID, transcript_id: relay.GlobalID) -> RenderedPrompt:
        assert info.context.llm is not None
        preview = await prompts.render_preview(
            info.context.tenant, info.context.llm,
            node_uuid(version_id, "PromptVersion"), node_uuid(transcript_id, "Transcript"),
        )
        system, transcript_block = (block["text"] for block in preview.request.system)
        return RenderedPrompt(
            model=preview.request.model, system=system, transcript_block=transcript_block,
            user=preview.request.messages[0]["content"], input_tokens=preview.input_tokens, simulated=preview.simulated,
        )
