"""The caller: their tenant and user."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.db import models
from dealgraph.schema.common import LoadedNode
from dealgraph.schema.context import Context
from dealgraph.schema.enums import Role
from dealgraph.schema.rows import FromRow
from dealgraph.services.tenancy import current_tenant


@strawberry.type
class User(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    email: str
    display_name: str
    role: Role
    row: strawberry.Private[models.User]

    @classmethod
    def node_loader(cls, info: strawberry.Info[Context, None]) -> DataLoader[uuid.UUID, Any]:
        return info.context.loaders.user


@strawberry.type
class Tenant(FromRow):
    id: strawberry.ID
    name: str
    slug: str
    created_at: datetime
    row: strawberry.Private[models.Tenant]


@strawberry.type(description="The caller, as identified by their API key.")
class Viewer:
    """`role` comes with the key; the tenant and user are read only when asked for."""

    role: Role

    @strawberry.field
    async def tenant(self, info: strawberry.Info[Context, None]) -> Tenant:
        return Tenant.from_row(await current_tenant(info.context.tenant))

    @strawberry.field
    async def user(self, info: strawberry.Info[Context, None]) -> User:
        return User.from_row(await info.context.loaders.user.load(info.context.viewer.user_id))
