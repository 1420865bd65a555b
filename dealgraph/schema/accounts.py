"""Accounts: the companies a tenant sells to."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.db import models
from dealgraph.schema.common import LoadedNode, UserError
from dealgraph.schema.connections import Connection, LoadedList, Pages
from dealgraph.schema.context import Context

if TYPE_CHECKING:
    from dealgraph.schema.deals import Deal

DealType = Annotated["Deal", strawberry.lazy("dealgraph.schema.deals")]


@strawberry.type
class Account(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    name: str
    domain: str | None
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.Account]

    @classmethod
    def node_loader(cls, info: strawberry.Info[Context, None]) -> DataLoader[uuid.UUID, Any]:
        return info.context.loaders.account

    @relay.connection(Connection[DealType], description="The account's deals, newest first.")
    async def deals(self, info: strawberry.Info[Context, None]) -> Pages[DealType]:
        from dealgraph.schema.deals import Deal

        rows = await info.context.loaders.deals_by_account.load(self.row.id)
        return LoadedList(rows, Deal.from_row, "account-deals")


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
