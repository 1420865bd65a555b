"""Unauthenticated WebSockets are short-lived and capped per client address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import text
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.standin import RunningStandin
from tests.support import TenantFactory, closed, connect_websocket, is_open, make_settings, running_app


@asynccontextmanager
async def serving(database_url: str, standin_server: RunningStandin, **overrides: object) -> AsyncIterator[Starlette]:
    async with running_app(make_settings(database_url, standin_server.base_url, analysis_slots=0, **overrides)) as app:
        yield app


def test_defaults() -> None:
    defaults = Settings(database_url="postgresql://unused")
    assert (defaults.ws_init_timeout_s, defaults.ws_max_pending_per_address) == (5.0, 20)


async def test_socket_without_connection_init_is_closed_after_the_timeout(
    database_url: str, standin_server: RunningStandin
) -> None:
    async with serving(database_url, standin_server, ws_init_timeout_s=0.5) as app, connect_websocket(app) as ws:
        close, _ = await closed(ws, timeout=10)  # strawberry's default would hold it for 60 s
    assert (close.code, close.reason) == (4408, "Connection initialisation timeout")


async def test_unauthenticated_sockets_are_capped_per_address(
    database_url: str, standin_server: RunningStandin, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    async with serving(database_url, standin_server, ws_max_pending_per_address=3, ws_init_timeout_s=60) as app:
        async with AsyncExitStack() as held:
            pending = [await held.enter_async_context(connect_websocket(app)) for _ in range(3)]
            async with connect_websocket(app) as refused:
                close, _ = await closed(refused, timeout=10)
            assert (close.code, close.reason) == (1013, "Too many WebSockets without connection_init from this address")

            async with connect_websocket(app, address="10.0.0.7") as elsewhere:  # other addresses are not affected
                assert await is_open(elsewhere)

            await pending[0].send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {who.api_key}"}}
            )
            assert (await asyncio.wait_for(pending[0].receive_json(), 10))["type"] == "connection_ack"
            async with connect_websocket(app) as admitted:  # the authenticated socket no longer counts
                assert await is_open(admitted)
        async with connect_websocket(app) as after_close:  # closed sockets free their place
            assert await is_open(after_close)


async def test_legacy_graphql_ws_protocol_is_refused(app: Starlette) -> None:
    """The legacy protocol has no init timeout and no revocation: only graphql-transport-ws is served."""
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app=app), base_url="http://dealgraph.test") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-ws"]) as ws:
            close, _ = await closed(ws, timeout=10)
    assert close.code == 4406


async def test_connection_init_while_no_connection_is_free_closes_with_try_again_later(
    database_url: str, standin_server: RunningStandin, tenants: TenantFactory
) -> None:
    """The key cannot be checked: 1013 with the reason, not an internal error (1011) from a crashed handler."""
    who = await tenants.create()
    overrides = {"db_pool_size": 1, "db_pool_timeout_s": 0.3, "embedding_pool": False}
    async with serving(database_url, standin_server, **overrides) as app, connect_websocket(app) as ws:
        async with app.state.database.owner_session() as held:
            await held.execute(text("SELECT 1"))  # the pool's only connection, held
            await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {who.api_key}"}})
            close, _ = await closed(ws, timeout=10)
        assert (close.code, close.reason) == (1013, "The server is busy (no free database connection); retry shortly.")
        async with connect_websocket(app) as retried:  # once a connection is free, the same key is acknowledged
            await retried.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {who.api_key}"}})
            assert (await asyncio.wait_for(retried.receive_json(), 10))["type"] == "connection_ack"
