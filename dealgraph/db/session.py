"""Engine and transactions. Tenant transactions are the only way request code reaches tenant data.

A tenant transaction switches to the application role (which cannot bypass row-level security)
and sets the tenant for the policies, both transaction-locally and in one round trip, so nothing
leaks into the pooled connection afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from dealgraph.db.tenant_slots import TenantSlots

_SCOPE_SQL = text("SELECT set_config('role', :role, true), set_config('app.tenant_id', :tenant, true)")


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what people paste) and select the asyncpg driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


class Database:
    def __init__(
        self, url: str, *, app_role: str, pool_size: int = 10, pool_timeout_s: float = 30.0, tenant_connections: int = 2
    ) -> None:
        self.url = url
        self.app_role = app_role
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_timeout=pool_timeout_s,
            hide_parameters=True,  # parameters are customer content (transcripts, prompts): keep them out of logs
        )
        # Request code reaches the pool through TenantScope, which holds one of these per session.
        self.tenant_connections = TenantSlots(
            tenant_connections, pool_timeout_s, "database connections (DEALGRAPH_TENANT_CONNECTIONS)"
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def tenant_session(self, tenant_id: uuid.UUID | None) -> AsyncIterator[AsyncSession]:
        """`None` scopes to no tenant at all: the policy-bound role then sees no tenant rows."""
        async with self.sessions() as session, session.begin():
            await session.execute(_SCOPE_SQL, {"role": self.app_role, "tenant": str(tenant_id or "")})
            yield session

    @asynccontextmanager
    async def owner_session(self) -> AsyncIterator[AsyncSession]:
        """Unscoped transaction as the connecting (owner) role: only for the CLI and bootstrap."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


@dataclass(frozen=True, slots=True)
class TenantScope:
    """A tenant bound to the database: what request-handling code is given instead of the engine."""

    database: Database
    tenant_id: uuid.UUID

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A tenant transaction, within the tenant's share of the connection pool."""
        async with self.database.tenant_connections.hold(self.tenant_id), self.database.tenant_session(self.tenant_id) as session:
            yield session
