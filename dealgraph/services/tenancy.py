"""The caller's tenant, read in its own scope, and the limits its admins set on it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from dealgraph.db.models import Tenant
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import TenantScope
from dealgraph.validation import Rules

MAX_TENANT_QUEUED_RUNS = 100_000
"""Above any queue one tenant could usefully hold; the server's own `max_queued_runs` caps it further."""
MAX_TENANT_EXPERIMENT_BUDGET_USD = 1_000_000
"""Above what any one experiment could cost (100,000 requests of a batch); the server's own
`experiment_budget_usd` caps it further."""


class TenantLimitsFields(TypedDict, total=False):
    max_queued_runs: Annotated[int, Field(ge=0, le=MAX_TENANT_QUEUED_RUNS)] | None
    experiment_budget_usd: (
        Annotated[float, Field(ge=0, le=MAX_TENANT_EXPERIMENT_BUDGET_USD, allow_inf_nan=False)] | None
    )


TENANT_LIMITS_RULES = Rules(TenantLimitsFields)


async def current_tenant(scope: TenantScope) -> Tenant:
    async with scope.session() as session:
        return await tenancy.current_tenant(session)


async def update_tenant_limits(scope: TenantScope, fields: dict[str, Any]) -> Tenant:
    """Only the fields given change; a limit set to null goes back to the server's default."""
    valid = TENANT_LIMITS_RULES.validate(fields, at=("input",))
    async with scope.session() as session:
        return await tenancy.set_limits(session, valid)
