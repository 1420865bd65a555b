"""The caller's tenant, read in its own scope."""

from __future__ import annotations

from dealgraph.db.models import Tenant
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import TenantScope


async def current_tenant(scope: TenantScope) -> Tenant:
    async with scope.session() as session:
        return await tenancy.current_tenant(session)
