"""The caller: their tenant and user."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import strawberry
from sqlalchemy import select
from strawberry import relay

from dealgraph.db import models
from dealgraph.schema.common import load_nodes
from dealgraph.server.context import Context

Role = strawberry.enum(models.Role, name="Role")


@strawberry.type
class User(relay.Node):
    id: relay.NodeID[str]
    email: str
    display_name: str
    role: Role  # type: ignore[valid-type]
    pk: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(id=str(row.id), email=row.email, display_name=row.display_name, role=row.role, pk=row.id)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        return await load_nodes(info.context.loaders.user, node_ids, cls.from_row, required=required)


@strawberry.type
class Tenant:
    id: strawberry.ID
    name: str
    slug: str
    created_at: datetime


@strawberry.type(description="The caller, as identified by their API key.")
class Viewer:
    """`role` comes with the key; the tenant and user are read only when asked for."""

    role: Role  # type: ignore[valid-type]

    @strawberry.field
    async def tenant(self, info: strawberry.Info[Context, None]) -> Tenant:
        async with info.context.tenant.session() as session:
            row = (await session.execute(select(models.Tenant))).scalar_one()
        return Tenant(id=strawberry.ID(str(row.id)), name=row.name, slug=row.slug, created_at=row.created_at)

    @strawberry.field
    async def user(self, info: strawberry.Info[Context, None]) -> User:
        return User.from_row(await info.context.loaders.user.load(info.context.viewer.user_id))
