"""Engine and transactions. Tenant transactions are the only way request code reaches tenant data.

A tenant transaction switches to the application role (which cannot bypass row-level security)
and sets the tenant for the policies, both transaction-locally and in one round trip, so nothing
leaks into the pooled connection afterwards.

A GraphQL query operation over HTTP shares one such transaction among all its resolvers and
DataLoaders (`OperationTransaction`), opened read-only with its scope in the same round trip (see
there): the data statements plus two round trips per request. Mutations and subscriptions keep a
transaction per action (see TenantScope).

The pool does not ping a connection at every checkout (a round trip per transaction). At checkout
it refuses, for free, a connection whose socket is known to be closed or that is still inside a
transaction (neither should ever be reused); one that went stale unnoticed (server restart, idle
kill) fails on the transaction's first statement, the scope, which is then retried on a fresh
connection: nothing has happened in the transaction yet, so the retry is safe.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from dealgraph.db.outage import is_outage
from dealgraph.db.read_pool import ReadPool
from dealgraph.db.telemetry import instrument_engine, taking_connection
from dealgraph.tenant_slots import TenantSlots

PREPARED_STATEMENT_CACHE_SIZE = 500
"""Per connection (SQLAlchemy's asyncpg dialect): enough for every statement shape the API sends."""


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what people paste) and select the asyncpg driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@dataclass(slots=True)
class WriteLog:
    """What one operation's write transactions did, so a caller can tell whether running it again is safe."""

    commits_sent: int = 0
    """COMMITs sent (committed, or possibly so when the answer was lost). None sent: nothing was written, and
    an operation that lost its connection may run again."""


_write_log: ContextVar[WriteLog | None] = ContextVar("dealgraph_write_log", default=None)


@contextmanager
def logging_writes() -> Iterator[WriteLog]:
    """Count the write transactions the block (and the tasks it starts) sends COMMIT for."""
    log = WriteLog()
    token = _write_log.set(log)
    try:
        yield log
    finally:
        _write_log.reset(token)


def _committing() -> None:
    if (log := _write_log.get()) is not None:
        log.commits_sent += 1


class Database:
    def __init__(
        self, url: str, *, app_role: str, pool_size: int = 10, pool_timeout_s: float = 30.0, tenant_connections: int = 2
    ) -> None:
        self.url = url
        self.app_role = app_role
        self.pool_size = pool_size
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
        event.listen(self.engine.sync_engine, "checkout", _refuse_unusable)
        event.listen(self.engine.sync_engine, "handle_error", _discard_on_outage)
        instrument_engine(self.engine.sync_engine)
        # Request code reaches the pool through TenantScope, which holds one of these per session.
        self.tenant_connections = TenantSlots(
            tenant_connections, pool_timeout_s, "database connections (DEALGRAPH_TENANT_CONNECTIONS)"
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # compiled reads: one statement each, on connections of their own (see read_pool)
        self.reads = ReadPool(url, app_role=app_role, size=pool_size, acquire_timeout_s=pool_timeout_s)

    @asynccontextmanager
    async def tenant_session(self, tenant_id: uuid.UUID | None) -> AsyncIterator[AsyncSession]:
        """A tenant transaction: committed when the block ends, rolled back if it raises.

        `None` scopes to no tenant at all: the policy-bound role then sees no tenant rows. BEGIN and the
        scope go to PostgreSQL as one message, as for `OperationTransaction`; the session runs inside the
        transaction (its connection in autocommit mode, so SQLAlchemy sends no BEGIN of its own), and its
        own commit, after COMMIT, sends nothing but runs its hooks (the Redis transport publishes there).
        """
        async with AsyncExitStack() as stack:
            session, connection = await self.begin_scoped(stack, tenant_id, read_only=False)
            try:
                yield session
                await session.flush()
            except BaseException:
                try:
                    await _end(connection, "ROLLBACK")
                finally:  # its hooks, even if the connection could not roll back: nothing is published
                    await session.rollback()
                raise
            _committing()
            await _end(connection, "COMMIT")
            await session.commit()

    async def begin_scoped(
        self, stack: AsyncExitStack, tenant_id: uuid.UUID | None, *, read_only: bool
    ) -> tuple[AsyncSession, AsyncConnection]:
        """A session (entered on `stack`) whose connection is in a tenant-scoped transaction: one round trip.

        A connection found dead here is replaced (nothing has happened in the transaction yet); every
        pooled connection may have died at once (a server restart), hence one attempt per pool slot.
        """
        begin = (
            f"BEGIN{' READ ONLY' if read_only else ''}; SELECT set_config('role', {_literal(self.app_role)}, true), "
            f"set_config('app.tenant_id', {_literal(str(tenant_id or ''))}, true)"
        )
        for _ in range(self.pool_size + 1):
            session = await stack.enter_async_context(self.sessions())
            with taking_connection("orm"):
                connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            driver = await _driver(connection)
            try:
                await driver.execute(begin)
            except BaseException as error:
                await connection.invalidate()
                await session.close()
                if driver.is_closed() or is_outage(error):  # it had died: try the next one
                    continue
                raise
            return session, connection
        raise DisconnectionError("no live database connection")

    @asynccontextmanager
    async def owner_session(self) -> AsyncIterator[AsyncSession]:
        """Unscoped transaction as the connecting (owner) role: only for the CLI and bootstrap."""
        async with self.sessions() as session, session.begin():
            yield session
            _committing()  # sent as the block ends

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection as the owner role, each statement its own transaction, in plain asyncpg.

        For the analysis pool's run state changes, each one statement (`dealgraph.db.repositories.runs`): no
        BEGIN or COMMIT round trip, no ORM. The driver's own prepared-statement cache serves them. A
        connection a statement failed or was interrupted on is discarded, never pooled in an unknown state.

        >>> async with database.autocommit() as connection:
        ...     await connection.fetchval("SELECT 1")
        """
        with taking_connection("orm"):
            connection = await self.engine.connect().start()
        try:
            yield await _driver(connection)
        except BaseException:
            await connection.invalidate()
            raise
        finally:
            await asyncio.shield(connection.close())  # as leaving `async with engine.connect()` does

    async def dispose(self) -> None:
        await self.reads.close()
        await self.engine.dispose()


def _refuse_unusable(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
    """Pool checkout hook: no round trip, only what the driver already knows.

    A closed socket (the server ended the session) is replaced instead of failing the first
    statement; a connection still inside a transaction (its end failed, e.g. cancelled while
    committing) must never carry that transaction, and its tenant scope, into someone else's work.
    """
    driver = dbapi_connection.driver_connection
    if driver.is_closed() or driver.is_in_transaction():
        raise DisconnectionError("pooled connection closed or still in a transaction")


def _discard_on_outage(context: ExceptionContext) -> None:
    """A statement SQLAlchemy ran failed because the server ended the session: the connection is discarded.

    SQLAlchemy asks asyncpg whether the socket is closed, and right after the server's FATAL message it may not
    be yet; pooled again, the connection would fail its next user with "another operation is in progress"."""
    if is_outage(context.original_exception):
        context.is_disconnect = True


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _end(connection: AsyncConnection, command: str) -> None:
    """COMMIT or ROLLBACK a transaction begun by `Database.begin_scoped`; a connection that cannot end it is
    discarded, never pooled mid-transaction (and one a statement was interrupted on is discarded already)."""
    if connection.invalidated:
        return
    try:
        await (await _driver(connection)).execute(command)
    except BaseException:
        await connection.invalidate()
        raise


async def _driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a checked-out SQLAlchemy connection."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None, "a checked-out connection has a driver connection"
    return driver


class OperationTransaction:
    """One tenant transaction shared by every resolver and DataLoader of one read-only operation.

    Opened on first use (an operation that reads nothing costs nothing) within the tenant's share of
    the pool, and committed by `close()` when the operation ends. Resolvers run concurrently but a
    connection runs one statement at a time, so each use holds a lock: code inside a `session()`
    block must not wait for another resolver or DataLoader (none does; they load, then return).

    Round trips: `BEGIN READ ONLY` and the scope statement go to PostgreSQL as one simple-protocol
    message (two statements, one round trip), then the data statements, then `COMMIT`: the data
    plus two round trips, the data plus three statements. To send both in one message the
    transaction is driven here rather than by SQLAlchemy (the session's connection is in
    autocommit mode, so SQLAlchemy sends no BEGIN of its own); the scope is still
    transaction-local, so it ends with the transaction whatever happens, and READ ONLY means a
    query operation cannot write even by mistake. If the transaction cannot be ended, the
    connection is discarded (and the pool refuses one still in a transaction anyway).
    """

    def __init__(self, database: Database, tenant_id: uuid.UUID) -> None:
        self.database = database
        self.tenant_id = tenant_id
        self._lock = asyncio.Lock()
        self._stack: AsyncExitStack | None = None
        self._session: AsyncSession | None = None
        self._connection: AsyncConnection | None = None
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
                    self._session, self._connection = await self.database.begin_scoped(
                        stack, self.tenant_id, read_only=True
                    )
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack = stack
            yield self._session

    async def close(self, error: BaseException | None = None) -> None:
        """Commit (or, after `error`, roll back) and give the connection and the tenant's slot back."""
        async with self._lock:
            stack, connection = self._stack, self._connection
            self._stack, self._session, self._connection, self._closed = None, None, None, True
            if stack is None or connection is None:
                return
            async with stack:
                try:
                    await _end(connection, "ROLLBACK" if error else "COMMIT")
                except Exception as failure:
                    if not is_outage(failure):
                        raise
                    # read only: what was read stands, and the connection is discarded already


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
        async with (
            self.database.tenant_connections.hold(self.tenant_id),
            self.database.tenant_session(self.tenant_id) as session,
        ):
            yield session
