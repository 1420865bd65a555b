"""Revoking an API key (or deleting its user) closes its open WebSockets at once, on every process."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import pytest
from httpx_ws import aconnect_ws
from sqlalchemy import text
from starlette.applications import Starlette
from wsproto.utilities import LocalProtocolError

from dealgraph.db.models import Role
from dealgraph.standin import RunningStandin
from tests.analysis_support import DEAL_EVENTS
from tests.factories import create_deal_with_account
from tests.graphql_documents import CREATE_ACCOUNT
from tests.processes import process_env, run_cli, server, servers
from tests.support import (
    REFUSAL_DEADLINE_S,
    GraphQLClient,
    TenantFactory,
    TenantHandle,
    authenticate,
    closed,
    is_open,
    refused_within,
    server_client,
    subscribe,
    wait_for,
    websocket,
)

REVOCATION_DEADLINE_S = 1.0  # a revoked key's sockets close within this; a NOTIFY takes milliseconds
ACCOUNTS = "{ accounts(first: 50) { edges { node { name } } } }"


async def account_names(gql: GraphQLClient, who: TenantHandle) -> list[str]:
    return [edge["node"]["name"] for edge in (await gql(ACCOUNTS, as_=who))["accounts"]["edges"]]


async def test_revoke_closes_the_keys_sockets_and_ends_their_subscriptions(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    colleague = await tenants.add_user(who, Role.MEMBER)
    deal_id = (await create_deal_with_account(gql, who))["id"]
    hub = app.state.hub
    before = hub.subscriber_count
    async with websocket(app, who.api_key) as ws, websocket(app, colleague.api_key) as other:
        await subscribe(ws, DEAL_EVENTS, {"id": deal_id})
        await wait_for(lambda: hub.subscriber_count == before + 1)

        revoking = asyncio.get_running_loop().time()
        await tenants.revoke(who)
        close, took = await closed(ws, timeout=10, since=revoking)
        assert (close.code, close.reason) == (4403, "API key revoked")
        assert took < REVOCATION_DEADLINE_S, f"closed after {took:.2f}s"
        await wait_for(lambda: hub.subscriber_count == before)  # the subscription ended with the socket
        assert await is_open(other)  # another key's socket is untouched


async def test_mutation_sent_right_after_the_revoke_is_not_saved(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    colleague = await tenants.add_user(who, Role.ADMIN)
    async with websocket(app, who.api_key) as ws:
        await tenants.revoke(who)
        with suppress(LocalProtocolError):  # the close may already have arrived: then it cannot even be sent
            await ws.send_json(
                {
                    "id": "late",
                    "type": "subscribe",
                    "payload": {"query": CREATE_ACCOUNT, "variables": {"input": {"name": "After revoke"}}},
                }
            )
        close, _ = await closed(ws, timeout=10)
    assert close.code == 4403
    assert "After revoke" not in await account_names(gql, colleague)


async def test_operation_after_a_lost_notification_is_refused(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """Revoked with triggers off (as if the NOTIFY were lost): the next operation re-checks the key."""
    who = await tenants.create()
    colleague = await tenants.add_user(who, Role.ADMIN)
    bystander = await tenants.add_user(who, Role.MEMBER)
    async with websocket(app, who.api_key) as ws, websocket(app, bystander.api_key) as barrier:
        async with app.state.database.owner_session() as session:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
            await session.execute(
                text("UPDATE api_keys SET revoked_at = now() WHERE prefix = :p"), {"p": who.api_key[:11]}
            )
        await tenants.revoke(bystander)  # notified in commit order: once its close is heard, so was all before it
        assert (await closed(barrier, timeout=10))[0].code == 4403
        assert await is_open(ws)  # no notification: still open
        await ws.send_json(
            {
                "id": "m",
                "type": "subscribe",
                "payload": {"query": CREATE_ACCOUNT, "variables": {"input": {"name": "Sneaked in"}}},
            }
        )
        close, _ = await closed(ws, timeout=10)
    assert close.code == 4403
    assert "Sneaked in" not in await account_names(gql, colleague)


async def test_sockets_are_rechecked_after_the_listener_reconnects(app: Starlette, tenants: TenantFactory) -> None:
    who = await tenants.create()
    async with websocket(app, who.api_key) as ws:
        async with app.state.database.owner_session() as session:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
            await session.execute(
                text("UPDATE api_keys SET revoked_at = now() WHERE prefix = :p"), {"p": who.api_key[:11]}
            )
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
            )
        close, _ = await closed(ws, timeout=15)
    assert close.code == 4403


async def test_deleting_the_user_closes_its_sockets(app: Starlette, gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    leaving = await tenants.add_user(who, Role.MEMBER)
    async with websocket(app, leaving.api_key) as ws:
        deleting = asyncio.get_running_loop().time()
        async with app.state.database.owner_session() as session:
            await session.execute(text("DELETE FROM users WHERE id = :u"), {"u": leaving.user_id})
        close, took = await closed(ws, timeout=10, since=deleting)
    assert close.code == 4403
    assert took < REVOCATION_DEADLINE_S, f"closed after {took:.2f}s"


@pytest.mark.processes
async def test_cli_revoke_closes_a_socket_held_by_another_server_process(
    tenants: TenantFactory, database_url: str, standin_server: RunningStandin
) -> None:
    who = await tenants.create()
    with server(process_env(database_url, standin_server.base_url, analysis_slots="0")) as server_a:
        async with server_client(server_a) as client:
            async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
                await authenticate(ws, who.api_key)
                revoked = await asyncio.to_thread(run_cli, database_url, "apikey", "revoke", who.api_key[:11])
                assert revoked.returncode == 0, revoked.stderr
                close, took = await closed(ws, timeout=10)
    assert close.code == 4403
    assert took < REVOCATION_DEADLINE_S, f"closed {took:.2f}s after the CLI returned"


@pytest.mark.processes
async def test_revoke_on_one_server_closes_the_socket_on_another(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str, standin_server: RunningStandin
) -> None:
    who = await tenants.create()
    deal_id = (await create_deal_with_account(gql, who))["id"]
    env = process_env(database_url, standin_server.base_url, analysis_slots="0")
    with servers(env, env) as (server_a, server_b):
        async with server_client(server_a) as client_a, server_client(server_b) as client_b:
            async with aconnect_ws("/graphql", client_a, subprotocols=["graphql-transport-ws"]) as ws:
                await authenticate(ws, who.api_key)
                await subscribe(ws, DEAL_EVENTS, {"id": deal_id})
                assert (
                    await client_b.post("/graphql", json={"query": ACCOUNTS}, headers=who.headers)
                ).status_code == 200
                revoking = asyncio.get_running_loop().time()
                await tenants.revoke(who)  # any process's database session: here the test's
                close, took = await closed(ws, timeout=10, since=revoking)
                # server B hears of the revoke through its own listener, maybe a moment after A did
                await refused_within(client_b, who, REFUSAL_DEADLINE_S)
    assert close.code == 4403
    assert took < REVOCATION_DEADLINE_S, f"closed after {took:.2f}s"
