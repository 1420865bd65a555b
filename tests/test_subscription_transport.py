"""The graphql-transport-ws transport: authentication in connection_init, tenancy, clean-up."""

from __future__ import annotations

import asyncio

from httpx_ws import WebSocketDisconnect
from starlette.applications import Starlette

from tests.analysis_support import ANALYSIS_EVENTS, start, transcript_for_analysis, wait_until_finished
from tests.support import GraphQLClient, StandinControl, TenantFactory, open_websocket, subscribe, wait_for, websocket


async def _close_code(app: Starlette, payload: dict[str, str]) -> int:
    async with open_websocket(app, payload) as ws:
        try:
            await asyncio.wait_for(ws.receive_json(), 5)
        except WebSocketDisconnect as closed:
            return closed.code
    raise AssertionError("the connection was accepted")


async def test_connection_init_without_valid_key_is_rejected(app: Starlette) -> None:
    assert await _close_code(app, {}) == 4403
    assert await _close_code(app, {"authorization": "Bearer dg_wrong"}) == 4403


async def test_another_tenants_analysis_is_not_found(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    owner, stranger = await tenants.create(), await tenants.create()
    ids = await transcript_for_analysis(gql, owner)
    analysis = await start(gql, owner, ids["transcript"], agents=["ACTION_ITEMS"])
    async with websocket(app, stranger.api_key) as ws:
        await ws.send_json(
            {"id": "x", "type": "subscribe", "payload": {"query": ANALYSIS_EVENTS, "variables": {"id": analysis["id"]}}}
        )
        message = await asyncio.wait_for(ws.receive_json(), 5)
    assert message["type"] == "next"
    [error] = message["payload"]["errors"]
    assert error["message"] == "Analysis not found." and error["extensions"]["code"] == "NOT_FOUND"
    await wait_until_finished(gql, owner, analysis["id"])


async def test_disconnect_releases_server_side_subscriptions(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    await standin.behave("meddpicc", latency_s=1.0)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis = await start(gql, who, ids["transcript"], agents=["MEDDPICC"])
    hub = app.state.hub
    baseline = hub.subscriber_count
    async with websocket(app, who.api_key) as ws:
        subscription = await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]})
        await subscription.next()  # the subscription is live on the server
        assert hub.subscriber_count == baseline + 1
    await wait_for(lambda: hub.subscriber_count == baseline)
    assert (await wait_until_finished(gql, who, analysis["id"]))["status"] == "SUCCEEDED"  # the run itself went on
