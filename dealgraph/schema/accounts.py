"""Accounts: the companies a tenant sells to."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from dealgraph.db import models
from dealgraph.resolvers.pagination import page_request, slice_page
from dealgraph.schema.common import Connection, UserError, load_nodes
from dealgraph.server.context import Context

if TYPE_CHECKING:
    from dealgraph.schema.deals import Deal

DealType = Annotated["Deal", strawberry.lazy("dealgraph.schema.deals")]


@strawberry.type
class Account(relay.Node):
    id: relay.NodeID[str]
    name: str
    domain: str | None
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Account) -> Account:
        return cls(
            id=str(row.id), name=row.name, domain=row.domain, created_at=row.created_at,
            updated_at=row.updated_at, pk=row.id,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Account | None]:
        return await load_nodes(info.context.loaders.account, node_ids, cls.from_row, required=required)

    @strawberry.field(description="The account's deals, newest first.")
    async def deals(
        self, info: strawberry.Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[DealType]:
        from dealgraph.schema.deals import Deal

        rows = await info.context.loaders.deals_by_account.load(self.pk)
        page = slice_page(rows, page_request(first, after, info.context.settings.max_page_size), "account-deals")
        return Connection.of(page, Deal.from_row)


@strawberry.input
class CreateAccountInput:
    name: str
    domain: str | None = None


@strawberry.input(description="Fields left out are unchanged; null clears an optional field.")
class UpdateAccountInput:
    id: relay.GlobalID
    name: str | None = strawberry.UNSET
    domain: str | None = strawberry.UNSET


@strawberry.type
class AccountPayload:
    account: Account | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
