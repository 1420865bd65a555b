"""Connections for compiled reads: one statement per request, its tenant scope set only when it changes.

A tenant transaction costs three statements besides its data (BEGIN, the scope, COMMIT). A compiled
read (`dealgraph.db.repositories.graph_reads`) is a single statement, atomic on its own, so it needs no
transaction; what it needs is the scope. These connections get it differently from the ORM's pool:

- The application role (which cannot bypass row-level security) is a start-up parameter of every
  connection, together with read-only transactions: a connection of this pool never acts as the
  owner and never writes.
- The tenant is a session setting, set when a connection is handed to a tenant other than the one it
  last served, and remembered on the connection. A process serving one busy tenant sends it once per
  connection; the statement count per request is the data alone.

The remembered tenant is forgotten before the setting is sent and recorded only once the server has
confirmed it, so a cancelled or failed switch can never leave a connection believed to be scoped to
one tenant while it is scoped to another. The pool's usual reset on release (`RESET ALL`) is replaced
by nothing: the role and the tenant are meant to stay, and nothing else is ever changed.

>>> reads = ReadPool("postgresql://localhost/dealgraph", app_role="dealgraph_app", size=10)
>>> row = await reads.fetchrow(tenant_id, "SELECT ARRAY(SELECT ROW(d.id, d.name) FROM deals d)", [])
>>> await reads.close()
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from dealgraph.db.outage import is_outage
from dealgraph.db.telemetry import taking_connection, trace_driver
from dealgraph.errors import TooManyRequests
from dealgraph.observability import metrics

_SET_TENANT = "SELECT set_config('app.tenant_id', $1, false)"
BROKEN_CONNECTION = (asyncpg.InterfaceError, asyncpg.InternalClientError, ConnectionError)
"""What a connection the server or network closed raises (asyncpg's own class for it is an InterfaceError)."""


class ScopedConnection(asyncpg.Connection):
    """An asyncpg connection that knows which tenant its session is scoped to (None: unknown, set it)."""

    _tenant: str | None = None

    async def fetchrow_for(self, tenant: str, sql: str, args: Sequence[Any]) -> Any:
        if self._tenant != tenant:
            self._tenant = None  # until the server has confirmed the new one
            await self.execute(_SET_TENANT, tenant)
            self._tenant = tenant
        return await self.fetchrow(sql, *args)


async def _keep_scope(connection: asyncpg.Connection) -> None:
    """Released connections keep their role and tenant (see the module doc)."""


async def _traced(connection: asyncpg.Connection) -> None:
    trace_driver(connection)


@asynccontextmanager
async def _in_use(pool: asyncpg.Pool, connection: asyncpg.Connection) -> AsyncIterator[None]:
    """Holds an acquired connection, counted as in use, until it is released (as `async with pool.acquire()`)."""
    metrics.count_connection("reads", 1)
    try:
        yield
    finally:
        metrics.count_connection("reads", -1)
        await pool.release(connection)


class ReadPool:
    def __init__(self, url: str, *, app_role: str, size: int, acquire_timeout_s: float = 30.0) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._app_role = app_role
        self._size = size
        self._acquire_timeout_s = acquire_timeout_s
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _opened(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,  # opened as reads arrive: a process that serves none holds none
                    max_size=self._size,
                    connection_class=ScopedConnection,
                    reset=_keep_scope,
                    init=_traced,
                    server_settings={
                        "role": self._app_role,
                        "default_transaction_read_only": "on",
                        "app.tenant_id": "",
                    },
                )
            return self._pool

    async def fetchrow(self, tenant_id: uuid.UUID, sql: str, args: Sequence[Any]) -> Any:
        """The one row of `sql`, read as `tenant_id`; a connection found broken (`is_outage`: the server ended its
        session) is dropped and the read retried once.

        Waits `acquire_timeout_s` for a free connection, then refuses as the ORM's pool does (TOO_MANY_REQUESTS)."""
        pool = self._pool or await self._opened()
        for attempt in (1, 2):
            try:
                with taking_connection("reads"):
                    connection = await pool.acquire(timeout=self._acquire_timeout_s)
                async with _in_use(pool, connection):
                    try:
                        return await connection.fetchrow_for(str(tenant_id), sql, args)
                    except asyncio.CancelledError:
                        raise  # asyncpg cancels the statement cleanly: the connection itself is sound
                    except BaseException as error:
                        if is_outage(error) or not isinstance(error, asyncpg.PostgresError):
                            with suppress(asyncpg.InterfaceError):  # the pool may have let go of it already
                                connection.terminate()  # in an unknown state: never handed out again
                        raise  # else the statement failed: the connection itself is sound
            except TimeoutError:  # only acquiring has a deadline
                raise TooManyRequests.pool_exhausted() from None
            except Exception as error:
                if attempt == 2 or not is_outage(error):
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
