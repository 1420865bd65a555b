"""Unauthenticated WebSockets are short-lived and capped per client address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from dealgraph.agents.standin import RunningStandin
from dealgraph.config import Settings
from dealgraph.server.app import create_app
from tests.support import TenantFactory, make_settings
from tests.test_ws_revocation import closed, is_open


@asynccontextmanager
async def serving(database_url: str, standin_server: RunningStandin, **overrides: object) -> AsyncIterator[Starlette]:
    application = create_app(make_settings(database_url, standin_server.base_url, worker_slots=0, **overrides))
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def raw_socket(app: Starlette, address: str = "127.0.0.1") -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws socket that has not sent `connection_init`."""
    transport = ASGIWebSocketTransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dealgraph.test") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            yield ws


def test_defaults() -> None:
    defaults = Settings(database_url="postgresql://unused")
    assert (defaults.ws_init_timeout_s, defaults.ws_max_pending_per_address) == (5.0, 20)


async def test_socket_without_connection_init_is_closed_after_the_timeout(
    database_url: str, standin_server: RunningStandin
) -> None:
    async with serving(database_url, standin_server, ws_init_timeout_s=0.5) as app, raw_socket(app) as ws:
        close, _ = await closed(ws, timeout=10)  # strawberry's default would hold it for 60 s
    assert (close.code, close.reason) == (4408, "Connection initialisation timeout")


async def test_unauthenticated_sockets_are_capped_per_address(
    database_url: str, standin_server: RunningStandin, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    async with serving(database_url, standin_server, ws_max_pending_per_address=3, ws_init_timeout_s=60) as app:
        async with AsyncExitStack() as held:
            pending = [await held.enter_async_context(raw_socket(app)) for _ in range(3)]
            async with raw_socket(app) as refused:
                close, _ = await closed(refused, timeout=10)
            assert (close.code, close.reason) == (1013, "Too many WebSockets without connection_init from this address")

            async with raw_socket(app, address="10.0.0.7") as elsewhere:  # other addresses are not affected
                assert await is_open(elsewhere)

            await pending[0].send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {who.api_key}"}})
            assert (await asyncio.wait_for(pending[0].receive_json(), 10))["type"] == "connection_ack"
            async with raw_socket(app) as admitted:  # the authenticated socket no longer counts
                assert await is_open(admitted)
        async with raw_socket(app) as after_close:  # closed sockets free their place
            assert await is_open(after_close)


async def test_legacy_graphql_ws_protocol_is_refused(app: Starlette) -> None:
    """The legacy protocol has no init timeout and no revocation: only graphql-transport-ws is served."""
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app=app), base_url="http://dealgraph.test") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-ws"]) as ws:
            close, _ = await closed(ws, timeout=10)
    assert close.code == 4406
