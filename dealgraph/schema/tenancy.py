"""The caller: their tenant and user."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.db import models
from dealgraph.db.repositories.tenancy import applied_experiment_budget, applied_queue_cap
from dealgraph.schema.common import LoadedNode, UserError
from dealgraph.schema.context import Context
from dealgraph.schema.enums import Role
from dealgraph.schema.permissions import IsAdmin
from dealgraph.schema.rows import FromRow
from dealgraph.services.tenancy import MAX_TENANT_EXPERIMENT_BUDGET_USD, MAX_TENANT_QUEUED_RUNS, current_tenant


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
    max_queued_runs: int | None = strawberry.field(
        description="The cap on queued agent runs your admins set (updateTenantLimits); null: the server's default."
    )
    experiment_budget_usd: float | None = strawberry.field(
        description="Admins: the most one prompt experiment may cost, as your admins set it (updateTenantLimits); "
        "null: the server's default.",
        permission_classes=[IsAdmin],
    )
    row: strawberry.Private[models.Tenant]

    @strawberry.field(
        description="The cap on queued agent runs in force: yours, never above the server's; null: no cap. "
        "An analysis that would queue more is refused with TOO_MANY_REQUESTS."
    )
    def applied_max_queued_runs(self, info: strawberry.Info[Context, None]) -> int | None:
        return applied_queue_cap(info.context.settings.max_queued_runs, self.max_queued_runs)

    @strawberry.field(
        description="Admins: the most one prompt experiment may cost in force: yours, never above the server's. "
        "startExperiment refuses an estimate over it, and a budgetUsd above it.",
        permission_classes=[IsAdmin],
    )
    def applied_experiment_budget_usd(self, info: strawberry.Info[Context, None]) -> float | None:
        return applied_experiment_budget(info.context.settings.experiment_budget_usd, self.experiment_budget_usd)


@strawberry.input(description="Limits of your tenant; a field left out keeps its value.")
class TenantLimitsInput:
    max_queued_runs: int | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"Agent runs your tenant may have waiting to start, 0 to {MAX_TENANT_QUEUED_RUNS} (never above "
        "the server's own cap); null: the server's default.",
    )
    experiment_budget_usd: float | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"The most one prompt experiment may cost, in USD, 0 to {MAX_TENANT_EXPERIMENT_BUDGET_USD:,} "
        "(never above the server's own budget); null: the server's default.",
    )


@strawberry.type
class TenantPayload:
    tenant: Tenant | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


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
