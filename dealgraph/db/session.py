"""Engine and transactions. Tenant transactions are the only way request code reaches tenant data.

A tenant transaction switches to the application role (which cannot bypass row-level security)
and sets the tenant for the policies, both transaction-locally and in one round trip, so nothing
leaks into the pooled connection afterwards.

A GraphQL query operation over HTTP shares one such transaction among all its resolvers and
DataLoaders (`OperationTransaction`): one BEGIN, one scope statement and one COMMIT per request
instead of per loader. Mutations and subscriptions keep a transaction per action (see TenantScope).

The pool does not ping a connection at every checkout (a round trip per transaction). A pooled
connection that went stale (server restart, idle kill) fails on the transaction's first
statement, the scope statement, which is then retried once on a fresh connection: nothing has
happened in the transaction yet, so the retry is safe. SQLAlchemy invalidates every older pooled
connection after such a disconnect, so one retry suffices.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from dealgraph.db.tenant_slots import TenantSlots

_SCOPE_SQL = text("SELECT set_config('role', :role, true), set_config('app.tenant_id', :tenant, true)")
PREPARED_STATEMENT_CACHE_SIZE = 500
"""Per connection (SQLAlchemy's asyncpg dialect): enough for every statement shape the API sends."""


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
            # A fixed pool: overflow connections are closed when returned, so bursts kept opening new
            # PostgreSQL sessions (fork, type introspection) and lost their prepared statements.
            pool_size=pool_size,
            max_overflow=0,
            pool_pre_ping=False,  # stale connections are retried at the first statement instead (module doc)
            pool_timeout=pool_timeout_s,
            connect_args={"prepared_statement_cache_size": PREPARED_STATEMENT_CACHE_SIZE},
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
        async with AsyncExitStack() as stack:
            session = await self._scoped(stack, tenant_id)
            yield session

    async def _scoped(self, stack: AsyncExitStack, tenant_id: uuid.UUID | None) -> AsyncSession:
        """A session in a tenant transaction, entered on `stack`; a stale pooled connection is retried once."""
        scope = {"role": self.app_role, "tenant": str(tenant_id or "")}
        for attempt in (1, 2):
            attempt_stack = AsyncExitStack()
            try:
                session = await attempt_stack.enter_async_context(self.sessions())
                await attempt_stack.enter_async_context(session.begin())
                await session.execute(_SCOPE_SQL, scope)
            except DBAPIError as error:
                await attempt_stack.__aexit__(type(error), error, error.__traceback__)
                if attempt == 2 or not error.connection_invalidated:
                    raise
                continue
            stack.push_async_exit(attempt_stack)
            return session
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def owner_session(self) -> AsyncIterator[AsyncSession]:
        """Unscoped transaction as the connecting (owner) role: only for the CLI and bootstrap."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


class OperationTransaction:
    """One tenant transaction shared by every resolver and DataLoader of one read-only operation.

    Opened on first use (an operation that reads nothing costs nothing) within the tenant's share of
    the pool, and committed by `close()` when the operation ends. Resolvers run concurrently but a
    connection runs one statement at a time, so each use holds a lock: code inside a `session()`
    block must not wait for another resolver or DataLoader (none does; they load, then return).
    """

    def __init__(self, database: Database, tenant_id: uuid.UUID) -> None:
        self.database = database
        self.tenant_id = tenant_id
        self._lock = asyncio.Lock()
        self._stack: AsyncExitStack | None = None
        self._session: AsyncSession | None = None
        self._closed = False

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._closed:  # e.g. a DataLoader batch still pending when a cancelled operation ended
                raise RuntimeError("the operation's transaction has ended")
            if self._session is None:
                stack = AsyncExitStack()
                try:
                    await stack.enter_async_context(self.database.tenant_connections.hold(self.tenant_id))
                    self._session = await self.database._scoped(stack, self.tenant_id)
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack = stack
            yield self._session

    async def close(self, error: BaseException | None = None) -> None:
        """Commit (or, after `error`, roll back) and give the connection and the tenant's slot back."""
        async with self._lock:
            stack, self._stack, self._session, self._closed = self._stack, None, None, True
            if stack is not None:
                await stack.__aexit__(type(error) if error else None, error, error.__traceback__ if error else None)


@dataclass(frozen=True, slots=True)
class TenantScope:
    """A tenant bound to the database: what request-handling code is given instead of the engine."""

    database: Database
    tenant_id: uuid.UUID
    shared: OperationTransaction | None = None
    """The operation's transaction, when its resolvers share one (HTTP queries); else one per `session()`."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A tenant transaction, within the tenant's share of the connection pool."""
        if self.shared is not None:
            async with self.shared.session() as session:
                yield session
            return
        async with self.database.tenant_connections.hold(self.tenant_id), self.database.tenant_session(self.tenant_id) as session:
            yield session
