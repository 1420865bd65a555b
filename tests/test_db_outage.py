"""A short database outage while agents are thinking: results are kept, and no agent is billed twice."""

from __future__ import annotations

import asyncio
import logging

import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.standin import RunningStandin
from tests.analysis_support import AGENTS, start, transcript_for_analysis, wait_until_finished
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    database_outage,
    make_settings,
    subscribe,
    wait_for,
    websocket,
)

LEASE_S = 15.0  # longer than the outage: the worker may keep its runs throughout


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url, lease_s=LEASE_S)


async def requests_per_agent(standin: StandinControl) -> dict[str, list[int]]:
    return {agent: await standin.statuses(agent) for agent in AGENTS}


async def test_results_finished_during_an_outage_are_recorded_without_calling_claude_again(
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    server_url: str,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for agent in AGENTS:
        await standin.behave(agent, held=True)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis = await start(gql, who, ids["transcript"])

    async def every_call_under_way() -> bool:
        return all((await requests_per_agent(standin)).values())

    def outcomes_refused() -> int:
        refused = [record for record in caplog.records if "recording the outcome failed" in record.getMessage()]
        return len({record.args[0] for record in refused if isinstance(record.args, tuple)})

    await wait_for(every_call_under_way, timeout=20)
    with caplog.at_level(logging.WARNING, logger="dealgraph.runs.lease"):
        async with database_outage(server_url, database_url):
            for agent in AGENTS:
                await standin.release(agent)
            await wait_for(lambda: outcomes_refused() == len(AGENTS), timeout=20)  # every answer is in, none stored

    finished = await wait_until_finished(gql, who, analysis["id"], timeout=30)
    assert finished["status"] == "SUCCEEDED", finished
    assert {run["agent"]: run["attempts"] for run in finished["agentRuns"]} == {a.upper(): 1 for a in AGENTS}
    assert await requests_per_agent(standin) == {agent: [200] for agent in AGENTS}  # each agent billed once


async def test_websocket_operation_during_an_outage_gets_an_error_and_the_socket_stays(
    app: Starlette, tenants: TenantFactory, server_url: str, database_url: str
) -> None:
    who = await tenants.create()
    async with websocket(app, who.api_key) as ws:
        async with database_outage(server_url, database_url):
            await ws.send_json({"id": "down", "type": "subscribe", "payload": {"query": "{ viewer { role } }"}})
            refused = await asyncio.wait_for(ws.receive_json(), 10)
        assert (refused["id"], refused["type"]) == ("down", "error")
        assert refused["payload"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        answered = await (await subscribe(ws, "{ viewer { role } }", {})).next()
        assert answered == {"viewer": {"role": "ADMIN"}}
