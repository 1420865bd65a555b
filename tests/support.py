"""Helpers shared by the tests: the app under its lifespan and clients for it (HTTP, GraphQL, WebSocket),
tenants with API keys, statement recording, database outages, the stand-in's control API and settings.

Rows of the deal graph come from `tests.factories`; real `dealgraph` processes from `tests.processes`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import event
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.types import ASGIApp

from dealgraph.config import Settings
from dealgraph.db.models import Role, Tenant
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import Database
from dealgraph.server.app import create_app
from harness.pg_statements import CountingProxy
from harness.postgres import connected
from harness.read_dataset import DatasetSize, seed

if TYPE_CHECKING:
    import anthropic


async def terminate_connections(admin: asyncpg.Connection, database: str) -> int:
    """End every session on `database` except `admin`'s own, as a server restart would; returns how many."""
    terminated = await admin.fetchval(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()) AS t",
        database,
    )
    return int(terminated)


@asynccontextmanager
async def notifications_lost(app: Starlette, server_url: str, database_url: str) -> AsyncIterator[list[str]]:
    """Notifications sent during the block never reach the app's subscribers, as while its listener reconnects
    (the block gets their payloads, to wait for); at its end every connection to the test database is dropped,
    the listener's too, so the listener reconnects and resyncs its subscribers."""
    hub = app.state.hub
    lost: list[str] = []
    hub._dispatch = lost.append  # the instance attribute shadows the method the listener calls
    try:
        yield lost
    finally:
        del hub._dispatch
    name = make_url(database_url).database
    assert name is not None
    async with connected(server_url) as admin:
        assert await terminate_connections(admin, name) > 0


@asynccontextmanager
async def database_outage(server_url: str, database_url: str) -> AsyncIterator[None]:
    """Drop every connection to the test database and refuse new ones until the block ends."""
    name = make_url(database_url).database
    assert name is not None
    async with connected(server_url) as admin:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            assert await terminate_connections(admin, name) > 0  # the app's pooled and listening connections
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app with its lifespan running (migrations, worker, listeners), as `dealgraph serve` runs it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


_TLS_CONTEXT = httpx.create_ssl_context()


def server_client(base_url: str, **options: Any) -> httpx.AsyncClient:
    """An HTTP client of a server on this machine (plain HTTP, no proxy). They all share one TLS context: httpx
    builds one per client otherwise, loading the CA bundle (~20 ms of CPU), and the suite makes thousands."""
    return httpx.AsyncClient(base_url=base_url, verify=_TLS_CONTEXT, trust_env=False, **options)


def standin_sdk(base_url: str) -> anthropic.AsyncAnthropic:
    """The real, unpatched `anthropic` SDK on a stand-in, without retries: a test sees the stand-in's first
    answer unless it asks for more. It shares the suite's TLS context, as `server_client` does."""
    import anthropic

    http_client = anthropic.DefaultAsyncHttpxClient(verify=_TLS_CONTEXT)
    return anthropic.AsyncAnthropic(base_url=base_url, api_key="test-key", max_retries=0, http_client=http_client)


def asgi_client(app: ASGIApp) -> httpx.AsyncClient:
    """An HTTP client whose requests go straight into the app (no socket)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dealgraph.test")


@dataclass(frozen=True)
class TenantHandle:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class TenantFactory:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, role: Role = Role.ADMIN, slug: str | None = None) -> TenantHandle:
        slug = slug or f"t-{uuid.uuid4().hex[:10]}"
        async with self.database.owner_session() as session:
            tenant = await tenancy.create_tenant(session, slug.title(), slug)
            user = await tenancy.ensure_user(session, tenant, f"{role.value}@{slug}.example", role)
            issued = await tenancy.issue_api_key(session, user, "tests")
        return TenantHandle(tenant.id, user.id, issued.key)

    async def add_user(self, tenant: TenantHandle, role: Role) -> TenantHandle:
        async with self.database.owner_session() as session:
            row = await session.get(Tenant, tenant.tenant_id)
            assert row is not None
            user = await tenancy.ensure_user(session, row, f"{role.value}-{uuid.uuid4().hex[:6]}@x.example", role)
            issued = await tenancy.issue_api_key(session, user, "tests")
        return TenantHandle(tenant.tenant_id, user.id, issued.key)

    async def revoke(self, handle: TenantHandle) -> None:
        async with self.database.owner_session() as session:
            assert await tenancy.revoke_api_key(session, handle.api_key[:11]) == 1


@contextmanager
def recording_statements(database: Database, containing: str = "") -> Iterator[list[str]]:
    """The SQL statements this process sends on any of its pool connections while the block runs;
    only those that contain `containing`, when given."""
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if containing in statement:
            statements.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def recording_round_trips(database: Database, containing: str = "") -> Iterator[list[str]]:
    """Every statement this process sends on its pool connections while the block runs: the ORM's (as
    `recording_statements` sees them) and those sent with the driver itself (`Database.autocommit`;
    asyncpg's query logger, which also sees SQLAlchemy's BEGIN and COMMIT but not its prepared statements).
    Only those containing `containing`, when given. Complete once the block has ended; the driver's logger
    is called soon after its statement, so yield to the loop before the block ends."""
    statements: list[str] = []

    def record(query: Any) -> None:
        if containing in query.query:
            statements.append(query.query)

    def attach(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(record)

    def detach(dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.driver_connection.remove_query_logger(record)

    pool = database.engine.sync_engine.pool
    event.listen(pool, "checkout", attach)
    event.listen(pool, "checkin", detach)
    try:
        with recording_statements(database, containing) as orm_statements:
            yield statements
    finally:
        event.remove(pool, "checkout", attach)
        event.remove(pool, "checkin", detach)
    statements.extend(orm_statements)


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: TenantHandle | None = None
    ) -> httpx.Response:
        headers = as_.headers if as_ else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: TenantHandle
    ) -> dict[str, Any]:
        """Run an operation that must succeed without GraphQL errors; returns `data`."""
        response = await self.raw(query, variables, as_=as_)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]


_mailboxes: weakref.WeakKeyDictionary[AsyncWebSocketSession, dict[str, deque[dict[str, Any]]]] = (
    weakref.WeakKeyDictionary()
)
"""Messages read off a socket while waiting for another of its operations, kept for their own operation."""


class Subscription:
    """One graphql-transport-ws operation on an open WebSocket; several may share the socket, in any order."""

    def __init__(self, ws: AsyncWebSocketSession, operation_id: str) -> None:
        self.ws = ws
        self.id = operation_id

    async def _receive(self, timeout: float) -> dict[str, Any]:
        mailbox = _mailboxes.setdefault(self.ws, {})
        while not (mine := mailbox.get(self.id)):
            message = await asyncio.wait_for(self.ws.receive_json(), timeout)
            mailbox.setdefault(message.get("id", ""), deque()).append(message)
        return mine.popleft()

    async def next(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The next `next` payload's data; None once the server completes the operation."""
        while True:
            message = await self._receive(timeout)
            if message["type"] == "complete":
                return None
            if message["type"] == "error":
                raise AssertionError(f"subscription error: {message['payload']}")
            assert message["type"] == "next", message
            payload = message["payload"]
            assert not payload.get("errors"), payload
            return payload["data"]

    async def collect(self, timeout: float = 15.0) -> list[dict[str, Any]]:
        events = []
        while (data := await self.next(timeout)) is not None:
            events.append(data)
        return events


_operation_ids = itertools.count(1)
ACCEPT_DEADLINE_S = 30.0


@asynccontextmanager
async def connect_websocket(app: ASGIApp, address: str = "127.0.0.1") -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws connection to the app from client `address`, before `connection_init`.

    The client lives inside the caller's task: the WebSocket transport's task group must be
    entered and exited in one task. The app has `ACCEPT_DEADLINE_S` to accept the socket (the transport's own
    default, 1 s, failed tests opening hundreds of sockets at once on a loaded machine).
    """
    transport = ASGIWebSocketTransport(app=app, client=(address, 40000), initial_receive_timeout=ACCEPT_DEADLINE_S)
    ws: AsyncWebSocketSession
    async with httpx.AsyncClient(transport=transport, base_url="http://dealgraph.test") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            yield ws


@asynccontextmanager
async def open_websocket(app: ASGIApp, payload: dict[str, Any]) -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws connection to the app, after sending `connection_init` with `payload`."""
    async with connect_websocket(app) as ws:
        await ws.send_json({"type": "connection_init", "payload": payload})
        yield ws


async def authenticate(ws: AsyncWebSocketSession, api_key: str, timeout: float = 10.0) -> None:
    """Send `connection_init` with the key on a graphql-transport-ws socket (to the app or to a real
    server) and require the server's `connection_ack`."""
    await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {api_key}"}})
    ack = await asyncio.wait_for(ws.receive_json(), timeout)
    assert ack["type"] == "connection_ack", ack


@asynccontextmanager
async def websocket(app: ASGIApp, api_key: str) -> AsyncIterator[AsyncWebSocketSession]:
    """An acknowledged (authenticated) graphql-transport-ws connection."""
    async with connect_websocket(app) as ws:
        await authenticate(ws, api_key)
        yield ws


async def closed(
    ws: AsyncWebSocketSession, timeout: float, since: float | None = None
) -> tuple[WebSocketDisconnect, float]:
    """Wait for the server to close `ws` (skipping messages); returns the close and the seconds since `since`."""
    loop = asyncio.get_running_loop()
    started = loop.time() if since is None else since
    try:
        while True:
            await asyncio.wait_for(ws.receive_json(), max(0.0, started + timeout - loop.time()))
    except WebSocketDisconnect as close:
        return close, loop.time() - started


async def is_open(ws: AsyncWebSocketSession) -> bool:
    """Whether the server still answers a graphql-transport-ws ping on `ws`."""
    await ws.send_json({"type": "ping"})
    return (await asyncio.wait_for(ws.receive_json(), 10))["type"] == "pong"


async def statement_running(database_url: str, statement: str) -> bool:
    """Whether a session on the database is executing `statement` (as PostgreSQL sees it, not guessed)."""
    async with connected(database_url) as observer:
        running: int = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
            "AND query = $1",
            statement,
        )
    return running > 0


async def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `condition` (a function, or a coroutine function) until it returns something true, and return that;
    fails after `timeout` seconds with the last value it returned."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"condition not met in {timeout:g} s: {value!r}"
        await asyncio.sleep(0.02)


async def subscribe(ws: AsyncWebSocketSession, query: str, variables: dict[str, Any]) -> Subscription:
    operation_id = str(next(_operation_ids))
    await ws.send_json({"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
    return Subscription(ws, operation_id)


class StandinControl:
    """Scripts the local Messages API stand-in per agent (latency, failures) through its control API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        async with server_client(self.base_url) as client:
            response = await client.request(method, path, json=json)
            response.raise_for_status()
            return response.json() if response.content else None

    async def behave(self, agent: str, **behaviour: Any) -> None:
        await self._request("PUT", f"/_standin/agents/{agent}", behaviour)

    async def release(self, agent: str) -> None:
        """Let a `held` agent's answer finish."""
        await self._request("POST", f"/_standin/agents/{agent}/release")

    async def reset(self) -> None:
        await self._request("POST", "/_standin/reset")

    async def thinking_blocks_received(self, agent: str) -> int:
        """Thinking blocks the agent's requests sent back (verified by signature, or refused)."""
        stats = await self._request("GET", "/_standin/stats")
        received: int = stats["agents"].get(agent, {}).get("thinking_blocks_received", 0)
        return received

    async def token_counts(self, agent: str) -> int:
        """count_tokens requests the agent's prompts were sent in."""
        stats = await self._request("GET", "/_standin/stats")
        counts: int = stats["agents"].get(agent, {}).get("token_counts", 0)
        return counts

    async def statuses(self, agent: str) -> list[int]:
        stats = await self._request("GET", "/_standin/stats")
        return stats["agents"].get(agent, {}).get("statuses", [])

    async def requests(self) -> list[Any]:
        """The latest Messages request bodies, oldest first, exactly as the stand-in received them."""
        recorded = await self._request("GET", "/_standin/requests")
        return list(recorded["requests"])


async def seed_reads(database: Database, tenant_id: uuid.UUID, size: DatasetSize) -> None:
    """The read benchmark's data set (harness/read_dataset.py) in a tenant, written as the owner."""
    async with database.owner_session() as session:
        raw = await (await session.connection()).get_raw_connection()
        await seed(raw.driver_connection, tenant_id, size)


def settings_through(proxy: CountingProxy, standin_url: str) -> Settings:
    """An app that reaches PostgreSQL only through the counting proxy; no worker, whose polling would be counted."""
    return make_settings(proxy.url, standin_url, analysis_slots=0)


def make_settings(database_url: str, standin_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "graphiql": True,
        "max_transcript_bytes": 64 * 1024,
        "anthropic_api_key": "test-key",
        "anthropic_base_url": standin_url,
        "analysis_slots": 8,
        "llm_concurrency": 8,
        "lease_s": 2.0,
        "poll_interval_s": 0.2,
        "llm_max_retries": 2,
        "progress_interval_s": 0.05,
        "embedding_pool": False,  # tests drive EmbeddingPool themselves (tests/test_vector_search.py)
        "health_pool": False,  # its polling would load every test; tests/test_deal_health.py runs it
        # A full collection of the whole test process's heap at every app's start cost more CPU than most modules'
        # tests; tests/test_heap.py and every `dealgraph serve` a test starts settle theirs.
        "settle_heap": False,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


# ---- revocation under the principal cache (DEALGRAPH_AUTH_CACHE_S)
REFUSAL_DEADLINE_S = 10.0
"""A revoke reaches a process's principal cache with a NOTIFY (milliseconds); generous for a loaded machine."""
VIEWER_ROLE = "{ viewer { role } }"


async def refused_within(client: httpx.AsyncClient, who: TenantHandle, deadline_s: float) -> float:
    """Seconds until `who`'s key gets 401 over HTTP; fails if it is still accepted after `deadline_s`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while (
        response := await client.post("/graphql", json={"query": VIEWER_ROLE}, headers=who.headers)
    ).status_code != 401:
        assert response.status_code == 200, response.text
        assert loop.time() - started < deadline_s, "revoked key still accepted"
        await asyncio.sleep(0.02)
    return loop.time() - started
