"""How the agents of one analysis share the transcript's prompt-cache entry, per strategy, end to end: the
stand-in makes an entry readable only once its writer's response has started, and keys it by the output
format too, as the API does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from dealgraph.standin import RunningStandin
from tests.analysis_support import AGENTS, start, transcript_for_analysis, wait_until_finished
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    TenantHandle,
    asgi_client,
    make_settings,
    running_app,
)

RUNS = """query($id: ID!) { analysis(id: $id) { status agentRuns { agent status error { code message }
  metadata { cacheReadTokens cacheWriteTokens cacheRole cacheWaitMs effort thinkingTokens } } } }"""


@pytest.fixture(params=["parallel", "leader"])
async def strategy_app(
    request: pytest.FixtureRequest, database_url: str, standin_server: RunningStandin
) -> AsyncIterator[tuple[str, Starlette]]:
    async with running_app(make_settings(database_url, standin_server.base_url, cache_sharing=request.param)) as app:
        yield request.param, app


async def test_each_strategy_writes_and_reads_the_cache_as_documented(
    strategy_app: tuple[str, Starlette], standin: StandinControl
) -> None:
    strategy, app = strategy_app
    for agent in AGENTS:  # a real prefill takes time: the leader's response starts after it
        await standin.behave(agent, latency_s=0.1, prefill_s_per_1k_tokens=0.2)
    async with asgi_client(app) as http:
        gql, tenants = GraphQLClient(http), TenantFactory(app.state.database)
        who = await tenants.create()
        analysis = await start(gql, who, (await transcript_for_analysis(gql, who))["transcript"], force=True)
        await wait_until_finished(gql, who, analysis["id"])
        runs = (await gql(RUNS, {"id": analysis["id"]}, as_=who))["analysis"]["agentRuns"]
    assert [run["status"] for run in runs] == ["SUCCEEDED"] * 4, runs
    meta = [run["metadata"] for run in runs]
    writers = [m for m in meta if m["cacheWriteTokens"] > 0]
    readers = [m for m in meta if m["cacheReadTokens"] > 0]
    roles = sorted(m["cacheRole"] for m in meta)
    if strategy == "parallel":  # four schemas, four prefixes: every agent writes its own entry
        assert len(writers) == 4 and readers == [] and roles == ["parallel"] * 4
    else:  # one shared schema: the leader writes, the others wait for its response to start, then read
        assert len(writers) == 1 and len(readers) == 3 and roles == ["follower"] * 3 + ["leader"]
        assert [m["cacheRole"] for m in writers] == ["leader"]
    assert all(m["thinkingTokens"] > 0 for m in meta)
    assert {run["agent"]: run["metadata"]["effort"] for run in runs} == {
        "MEDDPICC": "high",
        "ACTION_ITEMS": "medium",
        "STAKEHOLDERS": "medium",
        "MEETING_INTELLIGENCE": "medium",
    }


async def test_a_failing_leader_releases_its_followers_at_once(
    database_url: str, standin_server: RunningStandin, standin: StandinControl
) -> None:
    """Whichever agent leads, the failing one opens the gate on its way out: nobody waits out the 30 s."""
    await standin.behave("meddpicc", fail_always=400)
    await standin.behave("action_items", latency_s=0.05)
    settings = make_settings(database_url, standin_server.base_url, cache_sharing="leader", cache_wait_s=30)
    async with running_app(settings) as app, asgi_client(app) as http:
        gql, tenants = GraphQLClient(http), TenantFactory(app.state.database)
        who = await tenants.create()
        transcript = (await transcript_for_analysis(gql, who))["transcript"]
        analysis = await start(gql, who, transcript, agents=["MEDDPICC", "ACTION_ITEMS"], force=True)
        await wait_until_finished(gql, who, analysis["id"], timeout=20)
        runs = (await gql(RUNS, {"id": analysis["id"]}, as_=who))["analysis"]["agentRuns"]
    by_agent = {run["agent"]: run for run in runs}
    assert by_agent["MEDDPICC"]["status"] == "FAILED" and by_agent["ACTION_ITEMS"]["status"] == "SUCCEEDED"
    assert by_agent["ACTION_ITEMS"]["metadata"]["cacheWaitMs"] < 10_000


async def test_tenants_never_read_each_others_cache_entries(
    strategy_app: tuple[str, Starlette], standin: StandinControl
) -> None:
    """All tenants send under one API key, so they share the provider's cache: every prefix starts with a
    block naming the tenant, so the second tenant to analyse an identical call is billed exactly like the
    first, while the tenant that analysed it before reads its own entries."""
    strategy, app = strategy_app
    for agent in AGENTS:
        await standin.behave(agent, latency_s=0.1, prefill_s_per_1k_tokens=0.2)
    async with asgi_client(app) as http:
        gql, tenants = GraphQLClient(http), TenantFactory(app.state.database)
        first, second = await tenants.create(), await tenants.create()

        async def analyse(who: TenantHandle, transcript: str) -> list[tuple[int, int]]:
            analysis = await start(gql, who, transcript, force=True)
            await wait_until_finished(gql, who, analysis["id"])
            runs = (await gql(RUNS, {"id": analysis["id"]}, as_=who))["analysis"]["agentRuns"]
            assert [run["status"] for run in runs] == ["SUCCEEDED"] * 4, runs
            return sorted((run["metadata"]["cacheReadTokens"], run["metadata"]["cacheWriteTokens"]) for run in runs)

        ours = (await transcript_for_analysis(gql, first))["transcript"]
        theirs = (await transcript_for_analysis(gql, second))["transcript"]
        fresh = await analyse(first, ours)
        assert await analyse(second, theirs) == fresh  # nothing of the first tenant's entries was read
        again = await analyse(first, ours)
    written = max(write for _, write in fresh)
    if strategy == "parallel":  # each agent its own entry (its schema leads the prefix), per tenant
        assert [read for read, _ in fresh] == [0] * 4
        assert [read for read, _ in again] == sorted(write for _, write in fresh)
    else:  # within one tenant the followers read the leader's entry, and a later analysis reads it all
        assert [read for read, _ in fresh] == [0, written, written, written]
        assert [read for read, _ in again] == [written] * 4
