"""Database blips: every connection of the test database terminated every half second (`pg_terminate_backend`),
as a failover or an idle-connection killer does, while analyses run and clients read and subscribe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.standin import RunningStandin
from harness.postgres import asyncpg_dsn
from tests.analysis_support import AGENTS, ANALYSIS_EVENTS, start, transcript_for_analysis, wait_until_finished
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    make_settings,
    subscribe,
    terminate_connections,
    wait_for,
    websocket,
)

BLIP_EVERY_S = 0.5
ANALYSES = 4
HTTP_OPERATIONS = 200  # about one in a hundred answered INTERNAL_SERVER_ERROR before


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url, lease_s=10.0)


@asynccontextmanager
async def blips(database_url: str) -> AsyncIterator[list[int]]:
    """Terminate every other session on the database every BLIP_EVERY_S until the block ends; yields the counts."""
    terminated: list[int] = []
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    name = str(make_url(database_url).database)

    async def blip() -> None:
        while True:
            terminated.append(await terminate_connections(admin, name))
            await asyncio.sleep(BLIP_EVERY_S)

    blipping = asyncio.create_task(blip())
    try:
        yield terminated
    finally:
        blipping.cancel()
        with suppress(asyncio.CancelledError):
            await blipping
        await admin.close()


async def test_answers_finished_during_blips_are_recorded_once_and_never_sent_again(
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for agent in AGENTS:
        await standin.behave(agent, latency_s=0.7)
    who = await tenants.create()
    transcript = (await transcript_for_analysis(gql, who))["transcript"]
    analyses = [await start(gql, who, transcript, force=True) for _ in range(ANALYSES)]
    caplog.set_level(logging.WARNING)
    async with blips(database_url) as terminated:  # every answer arrives while connections keep dying
        await wait_for(lambda: every_agent_answered(standin, ANALYSES), timeout=40)
    assert sum(terminated) > 0
    for analysis in analyses:
        finished = await wait_until_finished(gql, who, analysis["id"], timeout=40)
        assert finished["status"] == "SUCCEEDED", finished
        assert [run["attempts"] for run in finished["agentRuns"]] == [1] * len(AGENTS), finished
    for agent in AGENTS:  # each answer paid for once: none was lost and asked for again
        assert await standin.statuses(agent) == [200] * ANALYSES
    unexpected = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("dealgraph")]
    assert not unexpected, [(r.name, r.getMessage(), r.exc_info and r.exc_info[1]) for r in unexpected]


async def every_agent_answered(standin: StandinControl, times: int) -> bool:
    """The stand-in has answered each agent `times` times."""
    for agent in AGENTS:
        if len(await standin.statuses(agent)) < times:
            return False
    return True


OPERATIONS = [
    "{ viewer { role tenant { slug } } deals(first: 5) { edges { node { id name account { name } } } } }",
    "mutation($input: CreateAccountInput!) { createAccount(input: $input) { account { id } errors { code } } }",
]


async def test_http_operations_during_blips_succeed_or_are_told_to_retry(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    who = await tenants.create()
    await transcript_for_analysis(gql, who)  # a deal and an account to read
    answered: list[str] = []
    async with blips(database_url) as terminated:
        while len(answered) < HTTP_OPERATIONS:
            for query in OPERATIONS:
                variables = {"input": {"name": f"Blip {len(answered)}"}} if "mutation" in query else {}
                response = await gql.raw(query, variables, as_=who)
                codes = {error["extensions"]["code"] for error in response.json().get("errors", [])}
                assert codes <= {"SERVICE_UNAVAILABLE"}, response.json()  # never INTERNAL_SERVER_ERROR
                if codes:
                    assert response.headers["retry-after"] == "1", response.headers
                answered.append("retry later" if codes else "answered")
    assert sum(terminated) > 0
    assert answered.count("answered") >= len(answered) * 0.9, answered.count("retry later")


async def test_subscribers_hear_the_analysis_finish_through_blips(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl, database_url: str
) -> None:
    for agent in AGENTS:
        await standin.behave(agent, latency_s=1.5)
    who = await tenants.create()
    transcript = (await transcript_for_analysis(gql, who))["transcript"]
    async with websocket(app, who.api_key) as ws:
        analysis = await start(gql, who, transcript, force=True)
        subscribers = [await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]}) for _ in range(6)]
        for subscriber in subscribers:  # each has read its snapshot
            assert await subscriber.next() is not None
        async with blips(database_url) as terminated:  # the answers arrive while connections keep dying
            await wait_for(lambda: every_agent_answered(standin, 1), timeout=40)
        assert sum(terminated) > 0
        for subscriber in subscribers:
            events = await subscriber.collect(timeout=20)
            assert events[-1]["analysisEvents"]["__typename"] == "AnalysisFinished", events
            assert events[-1]["analysisEvents"]["status"] == "SUCCEEDED"
